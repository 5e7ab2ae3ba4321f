import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  checkCpu,
  checkGatewayConfig,
  checkGpu,
  checkKustomization,
  checkNetworkPolicy,
  checkPods,
  checkSchemas,
  checkTermination,
  checkWiring,
  container,
  DOCKERFILES,
  documentedNames,
  find,
  type K8sObject,
  KUSTOMIZATIONS,
  lintDockerfile,
  NAMES,
  REPO_ROOT,
  render,
} from "../../scripts/k8s-check";
import { CONFIG_VARIABLES } from "../../src/config";

// Each check is run on the real manifests (no problem), then on a copy broken the way a careless
// edit would break it, to show the check notices.

const documented = documentedNames();
const rendered = new Map(KUSTOMIZATIONS.map((dir) => [dir, render(dir)]));

function objectsOf(dir: (typeof KUSTOMIZATIONS)[number]): K8sObject[] {
  return structuredClone(rendered.get(dir) ?? []);
}

function get(objects: K8sObject[], kind: string, name: string): K8sObject {
  const o = find(objects, kind, name);
  assert.ok(o, `${kind}/${name} is rendered`);
  return o;
}

/** The ConfigMap the gateway loads (its name carries Kustomize's content hash). */
function gatewayConfigMap(objects: K8sObject[]): K8sObject {
  const ref = container(get(objects, "Deployment", NAMES.gateway)).envFrom.find(
    (e: { configMapRef?: unknown }) => e.configMapRef,
  );
  return get(objects, "ConfigMap", ref.configMapRef.name);
}

function gatewayPolicy(objects: K8sObject[]): K8sObject {
  return get(objects, "NetworkPolicy", NAMES.sidecar);
}

describe("k8s manifests", () => {
  for (const dir of KUSTOMIZATIONS) {
    it(`${dir} renders and passes every check`, () => {
      const objects = objectsOf(dir);
      assert.ok(objects.length >= 11, `${dir} renders ${objects.length} objects`);
      assert.deepEqual(checkKustomization(dir, objects, documented), []);
    });
  }

  it("validates every object against its Kubernetes schema", () => {
    const objects = objectsOf("k8s/overlays/gpu");
    get(objects, "Deployment", NAMES.sidecar).spec.replicas = "two";
    delete get(objects, "HorizontalPodAutoscaler", NAMES.gateway).spec.scaleTargetRef;
    objects.push({ apiVersion: "batch/v1", kind: "CronJob", metadata: { name: "unchecked" } });
    const problems = checkSchemas(objects);
    assert.match(problems.join("\n"), /Deployment\/brewgate-sidecar: .*spec\/replicas must be integer/);
    assert.match(problems.join("\n"), /HorizontalPodAutoscaler\/brewgate-gateway: .*scaleTargetRef/);
    assert.match(problems.join("\n"), /CronJob\/unchecked: no schema for batch\/v1 CronJob/);
  });

  it("sets or documents every variable the gateway reads, and nothing it does not", () => {
    const objects = objectsOf("k8s/overlays/cpu");
    const env = {
      ...gatewayConfigMap(objects).data,
      ...get(objects, "Secret", "brewgate-gateway-secrets").stringData,
    };
    const set = CONFIG_VARIABLES.filter((v) => v in env);
    const commented = CONFIG_VARIABLES.filter((v) => !(v in env));
    assert.ok(set.includes("DATABASE_URL") && set.includes("INFERENCE_ADDRESSES"), set.join(","));
    assert.ok(
      commented.every((v) => documented.has(v)),
      commented.join(","),
    );

    // A variable neither set nor documented; one the gateway does not read; a value it refuses.
    const data = gatewayConfigMap(objects).data;
    delete data.RETRIEVAL_LIMIT;
    data.RETREIVAL_LIMIT = "50";
    data.IMPRESSION_FLUSH_TIMEOUT_MS = "30000";
    const undocumented = new Set([...documented].filter((v) => v !== "RETRIEVAL_LIMIT"));
    const problems = checkGatewayConfig(objects, undocumented).join("\n");
    assert.match(problems, /RETRIEVAL_LIMIT is neither set in its ConfigMap or Secret nor documented/);
    assert.match(problems, /RETREIVAL_LIMIT is set but the gateway does not read it/);
    assert.match(problems, /the gateway would refuse its environment: .*IMPRESSION_FLUSH_TIMEOUT_MS/);
    // An empty secret is not "unset": the gateway refuses it, so the check does too.
    const empty = objectsOf("k8s/overlays/cpu");
    get(empty, "Secret", "brewgate-gateway-secrets").stringData.DATABASE_URL = "";
    assert.match(
      checkGatewayConfig(empty, documented).join("\n"),
      /refuse its environment: invalid configuration: DATABASE_URL/,
    );
  });

  it("gives each pod a grace period longer than its preStop sleep and its drain", () => {
    const objects = objectsOf("k8s/overlays/gpu");
    const gateway = get(objects, "Deployment", NAMES.gateway).spec.template.spec;
    const sidecar = get(objects, "Deployment", NAMES.sidecar).spec.template.spec;
    // 40 s against preStop 5 s + SHUTDOWN_TIMEOUT_MS 25 s + 2 s; 40 s against 10 s + 15 s.
    assert.equal(gateway.terminationGracePeriodSeconds, 40);
    assert.equal(gateway.containers[0].lifecycle.preStop.sleep.seconds, 5);
    assert.equal(gatewayConfigMap(objects).data.SHUTDOWN_TIMEOUT_MS, "25000");
    assert.equal(sidecar.terminationGracePeriodSeconds, 40);

    gateway.terminationGracePeriodSeconds = 30;
    sidecar.containers[0].args.push("--shutdown-grace-ms", "8000");
    delete sidecar.containers[0].lifecycle;
    const problems = checkTermination(objects).join("\n");
    assert.match(problems, /brewgate-gateway: terminationGracePeriodSeconds 30 must exceed .* = 32 s/);
    assert.match(
      problems,
      /brewgate-sidecar: preStop sleep 0 s must exceed the gateways' INFERENCE_RESOLVE_INTERVAL_MS/,
    );
    assert.match(problems, /--shutdown-grace-ms 8000 must exceed the gateway's SCORE_TIMEOUT_MS 10000/);

    const longer = objectsOf("k8s/overlays/cpu");
    gatewayConfigMap(longer).data.SHUTDOWN_TIMEOUT_MS = "40000";
    assert.match(
      checkTermination(longer).join("\n"),
      /terminationGracePeriodSeconds 40 must exceed .* = 47 s/,
    );
  });

  it("asks for one NVIDIA GPU per sidecar in the GPU overlay only", () => {
    const gpu = objectsOf("k8s/overlays/gpu");
    const resources = container(get(gpu, "Deployment", NAMES.sidecar)).resources;
    assert.equal(resources.requests["nvidia.com/gpu"], 1);
    assert.equal(resources.limits["nvidia.com/gpu"], 1);
    assert.equal(container(get(gpu, "Deployment", NAMES.sidecar)).image, "brewgate/sidecar-cuda:0.1.0");
    delete resources.limits["nvidia.com/gpu"];
    get(gpu, "Deployment", NAMES.sidecar).spec.template.spec.tolerations = [];
    const problems = checkGpu(gpu).join("\n");
    assert.match(problems, /resources.limits has no nvidia.com\/gpu/);
    assert.match(problems, /no toleration for the nvidia.com\/gpu taint/);

    const cpu = objectsOf("k8s/overlays/cpu");
    assert.equal(container(get(cpu, "Deployment", NAMES.sidecar)).image, "brewgate/sidecar-cpu:0.1.0");
    assert.match(checkGpu(cpu).join("\n"), /resources.requests has no nvidia.com\/gpu/);
    container(get(cpu, "Deployment", NAMES.sidecar)).resources.limits["nvidia.com/gpu"] = 1;
    assert.match(checkCpu(cpu).join("\n"), /the CPU overlay asks for a GPU/);
  });

  it("lets only the gateway pods reach the sidecars' gRPC port", () => {
    const open = objectsOf("k8s/overlays/gpu");
    gatewayPolicy(open).spec.ingress[0].from.push({ namespaceSelector: {} });
    assert.match(checkNetworkPolicy(open).join("\n"), /port 50051 must be open only to the gateway pods/);

    const anyPort = objectsOf("k8s/overlays/gpu");
    delete gatewayPolicy(anyPort).spec.ingress[0].ports;
    gatewayPolicy(anyPort).spec.ingress.push({ from: [{ podSelector: {} }], ports: [{ port: 8080 }] });
    const problems = checkNetworkPolicy(anyPort).join("\n");
    assert.match(problems, /ingress\[0\] names no port, so it opens every port/);
    assert.match(problems, /ingress\[2\]: opens port 8080/);
    assert.match(problems, /no rule lets the gateway pods reach port 50051/);

    const elsewhere = objectsOf("k8s/overlays/cpu");
    gatewayPolicy(elsewhere).spec.podSelector.matchLabels["app.kubernetes.io/component"] = "gateway";
    assert.deepEqual(checkNetworkPolicy(elsewhere), ["no NetworkPolicy selects the sidecar pods"]);
  });

  it("runs every container as non-root, read-only, without capabilities, with probes on the right ports", () => {
    const objects = objectsOf("k8s/overlays/cpu");
    const gateway = get(objects, "Deployment", NAMES.gateway).spec.template.spec;
    gateway.securityContext.runAsNonRoot = false;
    gateway.containers[0].securityContext.capabilities.drop = [];
    gateway.containers[0].readinessProbe.httpGet.path = "/healthz";
    get(objects, "Deployment", NAMES.sidecar).spec.template.spec.containers[0].livenessProbe = {
      tcpSocket: { port: 50051 },
    };
    const problems = checkPods(objects).join("\n");
    assert.match(problems, /brewgate-gateway: securityContext.runAsNonRoot must be true/);
    assert.match(problems, /container gateway: capabilities must drop ALL/);
    assert.match(problems, /readinessProbe must be httpGet \/readyz on port 4000/);
    assert.match(problems, /brewgate-sidecar: livenessProbe must be the gRPC health probe on port 50051/);
  });

  it("points the gateways at the headless sidecar Service and the same read-only model", () => {
    const objects = objectsOf("k8s/overlays/gpu");
    gatewayConfigMap(objects).data.INFERENCE_ADDRESSES = "brewgate-sidecar.default.svc:50051";
    delete get(objects, "Service", NAMES.sidecarService).spec.clusterIP;
    get(objects, "Deployment", NAMES.gateway).spec.template.spec.containers[0].volumeMounts[1].readOnly =
      false;
    get(objects, "Deployment", NAMES.gateway).spec.replicas = 3;
    const problems = checkWiring(objects).join("\n");
    assert.match(problems, /INFERENCE_ADDRESSES must be brewgate-sidecar:50051/);
    assert.match(problems, /Service\/brewgate-sidecar: must be headless/);
    assert.match(problems, /Deployment\/brewgate-gateway: \/models must be a read-only mount/);
    assert.match(problems, /sets spec.replicas, which every apply would reset/);
  });

  for (const file of DOCKERFILES) {
    it(`${file} lints clean, pins its base images and runs as a numeric non-root user`, () => {
      const text = readFileSync(join(REPO_ROOT, file), "utf8");
      assert.deepEqual(lintDockerfile(file, text), []);
      assert.match(text, /^USER [1-9]\d*:[1-9]\d*$/m);
    });
  }

  it("notices a Dockerfile that runs as root, floats its base image or does not parse", () => {
    const file = "docker/gateway.Dockerfile";
    const text = readFileSync(join(REPO_ROOT, file), "utf8");
    assert.match(
      lintDockerfile(file, text.replace(/^USER .*$/m, "")).join("\n"),
      /must end as a numeric USER/,
    );
    assert.match(lintDockerfile(file, text.replace(/^USER .*$/m, "USER 0")).join("\n"), /runs as root/);
    assert.match(lintDockerfile(file, text.replace(/^USER .*$/m, "USER node")).join("\n"), /got node/);
    assert.match(
      lintDockerfile(
        file,
        text.replace("node:20.20.2-bookworm-slim AS build", "node:20-bookworm-slim AS build"),
      ).join("\n"),
      /base image node:20-bookworm-slim is not pinned/,
    );
    // dockerfile-utils: what the Docker builder would refuse.
    assert.match(
      lintDockerfile(file, text.replace(/^EXPOSE 4000$/m, "EXPOSE http")).join("\n"),
      /gateway.Dockerfile:\d+: Invalid containerPort: http/,
    );
    assert.match(
      lintDockerfile(file, text.replace("RUN npm ci", "RUNN npm ci")).join("\n"),
      /Unknown instruction: RUNN/,
    );
  });
});
