import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DockerfileParser } from "dockerfile-ast";
import { validate as lintDockerfileText } from "dockerfile-utils";
import { Deployment } from "kubernetes-models/apps/v1";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { ConfigMap, PersistentVolumeClaim, Secret, Service } from "kubernetes-models/v1";
import { parseAllDocuments } from "yaml";
import { CONFIG_VARIABLES, loadConfig } from "../src/config";
import { SHUTDOWN_EXIT_MARGIN_MS } from "../src/config/limits";

/**
 * `npm run k8s:check`: renders the Kustomize base and every overlay under k8s/ with
 * `kubectl kustomize`, validates each object against the Kubernetes API schemas
 * (kubernetes-models), checks what the manifests promise each other and the code (every gateway
 * setting present, grace periods above the drains, the sidecars reachable only from the
 * gateways...), and lints the Dockerfiles under docker/. Prints every problem, naming the
 * object or file, and exits 1 when there is one. test/unit/k8s-manifests.test.ts runs the same
 * checks.
 */

export const REPO_ROOT = join(__dirname, "..", "..");
export const K8S_DIR = join(REPO_ROOT, "k8s");
/** What `kubectl kustomize` renders; the overlays are what gets applied. */
export const KUSTOMIZATIONS = ["k8s/base", "k8s/overlays/cpu", "k8s/overlays/gpu"] as const;
export const DOCKERFILES = [
  "docker/gateway.Dockerfile",
  "docker/sidecar-cpu.Dockerfile",
  "docker/sidecar-cuda.Dockerfile",
] as const;

/** The objects' names in the base; the overlays keep them. */
export const NAMES = {
  gateway: "brewgate-gateway",
  sidecar: "brewgate-sidecar",
  sidecarService: "brewgate-sidecar",
} as const;
export const GRPC_PORT = 50051;
export const METRICS_PORT = 9400;
export const GATEWAY_PORT = 4000;
/** The sidecar's --shutdown-grace-ms when the flag is not given (native/cuda-server/src/main.cpp). */
export const SIDECAR_DEFAULT_GRACE_MS = 5000;

// biome-ignore lint/suspicious/noExplicitAny: rendered manifests are untyped YAML until validated.
export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string }; [key: string]: any };
// biome-ignore lint/suspicious/noExplicitAny: see K8sObject.
type Json = any;

// ---------------------------------------------------------------------------------------------
// rendering

/** The objects `kubectl kustomize DIR` renders; throws naming the directory and kubectl's error. */
export function render(dir: string): K8sObject[] {
  let text: string;
  try {
    text = execFileSync("kubectl", ["kustomize", join(REPO_ROOT, dir)], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`kubectl kustomize ${dir} failed: ${(e.stderr || e.message).trim()}`);
  }
  return parseManifests(text, dir);
}

/** Every document of a multi-document YAML stream; throws naming the source and the YAML error. */
export function parseManifests(text: string, source: string): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`${source}: invalid YAML: ${doc.errors[0].message}`);
    const value = doc.toJS();
    if (value === null) continue;
    if (typeof value.apiVersion !== "string" || typeof value.kind !== "string" || !value.metadata?.name)
      throw new Error(
        `${source}: a document without apiVersion, kind or metadata.name: ${JSON.stringify(value)}`,
      );
    objects.push(value);
  }
  return objects;
}

export function nameOf(o: K8sObject): string {
  return `${o.kind}/${o.metadata.name}`;
}

// ---------------------------------------------------------------------------------------------
// schemas

type Validatable = { validate(): void };
// biome-ignore lint/suspicious/noExplicitAny: each model class takes its own data type.
type ModelClass = new (data: any) => Validatable;

/** The API versions these manifests use, each with its schema. */
const MODELS: Record<string, ModelClass> = {
  "apps/v1/Deployment": Deployment,
  "autoscaling/v2/HorizontalPodAutoscaler": HorizontalPodAutoscaler,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
  "networking.k8s.io/v1/NetworkPolicy": NetworkPolicy,
  "v1/ConfigMap": ConfigMap,
  "v1/Secret": Secret,
  "v1/Service": Service,
  "v1/PersistentVolumeClaim": PersistentVolumeClaim,
};

/**
 * Each object against the OpenAPI schema of its apiVersion and kind: required fields, types,
 * enums, formats. An apiVersion/kind without a schema here is a problem too, so a new kind
 * cannot pass unchecked.
 */
export function checkSchemas(objects: K8sObject[]): string[] {
  const problems: string[] = [];
  for (const o of objects) {
    const Model = MODELS[`${o.apiVersion}/${o.kind}`];
    if (!Model) {
      problems.push(
        `${nameOf(o)}: no schema for ${o.apiVersion} ${o.kind} (known: ${Object.keys(MODELS).join(", ")})`,
      );
      continue;
    }
    try {
      new Model(o).validate();
    } catch (err) {
      problems.push(`${nameOf(o)}: ${(err as Error).message}`);
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// lookups

export function find(objects: K8sObject[], kind: string, name: string): K8sObject | undefined {
  return objects.find((o) => o.kind === kind && o.metadata.name === name);
}

function mustFind(objects: K8sObject[], kind: string, name: string): K8sObject {
  const o = find(objects, kind, name);
  if (!o) throw new Error(`no ${kind}/${name} among ${objects.map(nameOf).join(", ")}`);
  return o;
}

/** The first container of a Deployment (each of ours has one). */
export function container(deployment: K8sObject): Json {
  return deployment.spec?.template?.spec?.containers?.[0] ?? {};
}

function podLabels(deployment: K8sObject): Record<string, string> {
  return deployment.spec?.template?.metadata?.labels ?? {};
}

/**
 * Whether matchLabels selects the labels. These manifests use no matchExpressions; a selector
 * with some is reported as selecting nothing rather than half-evaluated.
 */
export function selects(selector: Json, labels: Record<string, string>): boolean {
  if (!selector || selector.matchExpressions) return false;
  return Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
}

/** The value of a flag in an argument list (`--flag value`), or undefined. */
export function flagValue(args: string[], flag: string): string | undefined {
  const at = args.lastIndexOf(flag);
  return at >= 0 ? args[at + 1] : undefined;
}

/** The environment a Deployment's first container gets from its envFrom and env. */
export function containerEnv(objects: K8sObject[], deployment: K8sObject): Record<string, string> {
  const c = container(deployment);
  const env: Record<string, string> = {};
  for (const from of c.envFrom ?? []) {
    if (from.configMapRef) Object.assign(env, mustFind(objects, "ConfigMap", from.configMapRef.name).data);
    if (from.secretRef) {
      const secret = mustFind(objects, "Secret", from.secretRef.name);
      for (const [k, v] of Object.entries(secret.data ?? {}))
        env[k] = Buffer.from(String(v), "base64").toString("utf8");
      Object.assign(env, secret.stringData);
    }
  }
  for (const e of c.env ?? []) if (typeof e.value === "string") env[e.name] = e.value;
  return env;
}

// ---------------------------------------------------------------------------------------------
// the gateway's configuration

/**
 * Names documented in comments of the files under k8s/: `# NAME=value` (env files) or
 * `# NAME: value` (YAML), a variable deliberately left unset with what to set it to.
 */
export function documentedNames(dir: string = K8S_DIR): Set<string> {
  const names = new Set<string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else
        for (const m of readFileSync(join(d, e.name), "utf8").matchAll(/^\s*#\s*([A-Z][A-Z0-9_]*)\s*[=:]/gm))
          names.add(m[1]);
    }
  };
  walk(dir);
  return names;
}

/**
 * Every variable the gateway reads (CONFIG_VARIABLES) is set through the gateway container's
 * ConfigMap or Secret or documented in a comment; nothing set there is a name the gateway does
 * not read (a typo); and the gateway's own loader accepts the environment as set.
 */
export function checkGatewayConfig(objects: K8sObject[], documented: Set<string>): string[] {
  const gateway = mustFind(objects, "Deployment", NAMES.gateway);
  const env = containerEnv(objects, gateway);
  const known = new Set<string>(CONFIG_VARIABLES);
  const problems: string[] = [];
  for (const name of CONFIG_VARIABLES)
    if (!(name in env) && !documented.has(name))
      problems.push(
        `${nameOf(gateway)}: ${name} is neither set in its ConfigMap or Secret nor documented in a comment under k8s/ (# ${name}=...)`,
      );
  for (const name of Object.keys(env))
    if (!known.has(name))
      problems.push(
        `${nameOf(gateway)}: ${name} is set but the gateway does not read it (src/config/index.ts)`,
      );
  try {
    loadConfig(env);
  } catch (err) {
    problems.push(`${nameOf(gateway)}: the gateway would refuse its environment: ${(err as Error).message}`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// graceful termination

function preStopSeconds(c: Json): number {
  return c.lifecycle?.preStop?.sleep?.seconds ?? 0;
}

/**
 * A pod's grace period must outlast what happens in it: the preStop sleep, then the process's
 * own drain. Past the grace period the kubelet sends SIGKILL, cutting the drain short.
 */
export function checkTermination(objects: K8sObject[]): string[] {
  const problems: string[] = [];
  const gateway = mustFind(objects, "Deployment", NAMES.gateway);
  const config = loadConfig(containerEnv(objects, gateway));
  const gatewayGrace = gateway.spec.template.spec.terminationGracePeriodSeconds ?? 30;
  const gatewayPreStop = preStopSeconds(container(gateway));
  const gatewayNeeds = gatewayPreStop + (config.SHUTDOWN_TIMEOUT_MS + SHUTDOWN_EXIT_MARGIN_MS) / 1000;
  if (gatewayPreStop <= 0)
    problems.push(`${nameOf(gateway)}: no preStop sleep: requests still routed to a stopping pod would fail`);
  if (gatewayGrace <= gatewayNeeds)
    problems.push(
      `${nameOf(gateway)}: terminationGracePeriodSeconds ${gatewayGrace} must exceed preStop ${gatewayPreStop} s + SHUTDOWN_TIMEOUT_MS ${config.SHUTDOWN_TIMEOUT_MS} ms + ${SHUTDOWN_EXIT_MARGIN_MS} ms exit margin = ${gatewayNeeds} s`,
    );
  const sidecar = mustFind(objects, "Deployment", NAMES.sidecar);
  const args: string[] = container(sidecar).args ?? [];
  const graceMs = Number(flagValue(args, "--shutdown-grace-ms") ?? SIDECAR_DEFAULT_GRACE_MS);
  const sidecarGrace = sidecar.spec.template.spec.terminationGracePeriodSeconds ?? 30;
  const sidecarPreStop = preStopSeconds(container(sidecar));
  const sidecarNeeds = sidecarPreStop + graceMs / 1000;
  // The gateways learn that a sidecar is stopping only by resolving the Service's name again.
  if (sidecarPreStop * 1000 <= config.INFERENCE_RESOLVE_INTERVAL_MS)
    problems.push(
      `${nameOf(sidecar)}: preStop sleep ${sidecarPreStop} s must exceed the gateways' INFERENCE_RESOLVE_INTERVAL_MS ${config.INFERENCE_RESOLVE_INTERVAL_MS} ms, or they still send calls that it refuses`,
    );
  if (sidecarGrace <= sidecarNeeds)
    problems.push(
      `${nameOf(sidecar)}: terminationGracePeriodSeconds ${sidecarGrace} must exceed preStop ${sidecarPreStop} s + --shutdown-grace-ms ${graceMs} ms = ${sidecarNeeds} s`,
    );
  if (graceMs <= config.SCORE_TIMEOUT_MS)
    problems.push(
      `${nameOf(sidecar)}: --shutdown-grace-ms ${graceMs} must exceed the gateway's SCORE_TIMEOUT_MS ${config.SCORE_TIMEOUT_MS}, or rankings running at SIGTERM are cut off`,
    );
  return problems;
}

// ---------------------------------------------------------------------------------------------
// pods: security, resources, probes

/** Non-root, no privilege escalation, no capabilities, read-only root, resources, probes. */
export function checkPods(objects: K8sObject[]): string[] {
  const problems: string[] = [];
  for (const d of objects.filter((o) => o.kind === "Deployment")) {
    const pod = d.spec?.template?.spec ?? {};
    const say = (what: string) => problems.push(`${nameOf(d)}: ${what}`);
    if (pod.securityContext?.runAsNonRoot !== true) say("securityContext.runAsNonRoot must be true");
    if (!(pod.securityContext?.runAsUser > 0)) say("securityContext.runAsUser must be a non-zero uid");
    if (pod.securityContext?.seccompProfile?.type !== "RuntimeDefault")
      say("securityContext.seccompProfile.type must be RuntimeDefault");
    if (pod.automountServiceAccountToken !== false)
      say("automountServiceAccountToken must be false: nothing in it calls the Kubernetes API");
    for (const c of pod.containers ?? []) {
      const sc = c.securityContext ?? {};
      const at = `container ${c.name}`;
      if (sc.allowPrivilegeEscalation !== false) say(`${at}: allowPrivilegeEscalation must be false`);
      if (sc.readOnlyRootFilesystem !== true) say(`${at}: readOnlyRootFilesystem must be true`);
      if (!(sc.capabilities?.drop ?? []).includes("ALL")) say(`${at}: capabilities must drop ALL`);
      // CPU requests drive the HPA and scheduling; a memory limit keeps a leak from taking the node.
      if (!c.resources?.requests?.cpu) say(`${at}: no resources.requests.cpu`);
      if (!c.resources?.requests?.memory) say(`${at}: no resources.requests.memory`);
      if (!c.resources?.limits?.memory) say(`${at}: no resources.limits.memory`);
      for (const p of ["livenessProbe", "readinessProbe"]) if (!c[p]) say(`${at}: no ${p}`);
    }
  }
  const gw = container(mustFind(objects, "Deployment", NAMES.gateway));
  const port = (p: Json) =>
    typeof p === "number" ? p : gw.ports?.find((x: Json) => x.name === p)?.containerPort;
  for (const [probe, path] of [
    ["livenessProbe", "/healthz"],
    ["readinessProbe", "/readyz"],
  ] as const) {
    const get = gw[probe]?.httpGet;
    if (get?.path !== path || port(get?.port) !== GATEWAY_PORT)
      problems.push(
        `Deployment/${NAMES.gateway}: ${probe} must be httpGet ${path} on port ${GATEWAY_PORT}, got ${JSON.stringify(gw[probe])}`,
      );
  }
  const sc = container(mustFind(objects, "Deployment", NAMES.sidecar));
  for (const probe of ["livenessProbe", "readinessProbe"])
    if (sc[probe]?.grpc?.port !== GRPC_PORT)
      problems.push(
        `Deployment/${NAMES.sidecar}: ${probe} must be the gRPC health probe on port ${GRPC_PORT}, got ${JSON.stringify(sc[probe])}`,
      );
  return problems;
}

// ---------------------------------------------------------------------------------------------
// wiring: services, selectors, the model volume

/** Services, budgets and the autoscaler reach the pods they are for; the gateway reaches the sidecars. */
export function checkWiring(objects: K8sObject[]): string[] {
  const problems: string[] = [];
  const gateway = mustFind(objects, "Deployment", NAMES.gateway);
  const sidecar = mustFind(objects, "Deployment", NAMES.sidecar);
  const deployments = objects.filter((o) => o.kind === "Deployment");
  for (const o of objects) {
    const selector =
      o.kind === "Service"
        ? { matchLabels: o.spec?.selector }
        : o.kind === "PodDisruptionBudget"
          ? o.spec?.selector
          : undefined;
    if (selector && !deployments.some((d) => selects(selector, podLabels(d))))
      problems.push(`${nameOf(o)}: its selector ${JSON.stringify(selector)} matches no Deployment's pods`);
    if (o.kind === "HorizontalPodAutoscaler") {
      const ref = o.spec?.scaleTargetRef ?? {};
      if (!find(objects, ref.kind, ref.name))
        problems.push(`${nameOf(o)}: scaleTargetRef ${ref.kind}/${ref.name} is not among the objects`);
      else if (find(objects, ref.kind, ref.name)?.spec?.replicas !== undefined)
        problems.push(
          `${nameOf(o)}: ${ref.kind}/${ref.name} sets spec.replicas, which every apply would reset`,
        );
    }
  }
  for (const [a, b] of [
    [gateway, sidecar],
    [sidecar, gateway],
  ]) {
    if (!selects(a.spec.selector, podLabels(a)))
      problems.push(`${nameOf(a)}: its selector does not match its own pods`);
    if (selects(a.spec.selector, podLabels(b)))
      problems.push(`${nameOf(a)}: its selector also matches ${nameOf(b)}'s pods`);
  }

  const service = find(objects, "Service", NAMES.sidecarService);
  if (!service) problems.push(`no Service/${NAMES.sidecarService} for the sidecars`);
  else {
    if (service.spec?.clusterIP !== "None")
      problems.push(
        `${nameOf(service)}: must be headless (clusterIP: None) so the gateways see every sidecar pod`,
      );
    const ports = (service.spec?.ports ?? []).map((p: Json) => p.port);
    for (const p of [GRPC_PORT, METRICS_PORT])
      if (!ports.includes(p)) problems.push(`${nameOf(service)}: no port ${p}`);
    if (!selects({ matchLabels: service.spec?.selector }, podLabels(sidecar)))
      problems.push(`${nameOf(service)}: does not select the sidecar pods`);
  }
  const env = containerEnv(objects, gateway);
  const expected = `${NAMES.sidecarService}:${GRPC_PORT}`;
  if (env.INFERENCE_ADDRESSES !== expected)
    problems.push(
      `${nameOf(gateway)}: INFERENCE_ADDRESSES must be ${expected} (the headless Service), got ${env.INFERENCE_ADDRESSES}`,
    );

  // One checkpoint: the sidecars' --model and the gateway's MODEL_DIR, on the same claim, read-only.
  const args: string[] = container(sidecar).args ?? [];
  for (const [flag, value] of [
    ["--listen", `0.0.0.0:${GRPC_PORT}`],
    ["--metrics-listen", `0.0.0.0:${METRICS_PORT}`],
  ])
    if (flagValue(args, flag) !== value)
      problems.push(`${nameOf(sidecar)}: ${flag} must be ${value}, got ${flagValue(args, flag)}`);
  const modelDir = flagValue(args, "--model");
  if (!modelDir) problems.push(`${nameOf(sidecar)}: no --model`);
  else if (env.MODEL_DIR !== modelDir)
    problems.push(
      `${nameOf(gateway)}: MODEL_DIR ${env.MODEL_DIR} differs from the sidecars' --model ${modelDir}`,
    );
  const claims = [gateway, sidecar].map((d) => {
    const mount = (container(d).volumeMounts ?? []).find((m: Json) => modelDir?.startsWith(m.mountPath));
    const volume = (d.spec.template.spec.volumes ?? []).find((v: Json) => v.name === mount?.name);
    if (mount?.readOnly !== true || !volume?.persistentVolumeClaim)
      problems.push(
        `${nameOf(d)}: ${modelDir} must be a read-only mount of the model's PersistentVolumeClaim`,
      );
    return volume?.persistentVolumeClaim?.claimName;
  });
  if (claims[0] !== claims[1])
    problems.push(
      `the gateway mounts claim ${claims[0]} and the sidecars ${claims[1]}: they must share one model`,
    );
  else if (claims[0] && !find(objects, "PersistentVolumeClaim", claims[0]))
    problems.push(`PersistentVolumeClaim/${claims[0]} is mounted but not among the objects`);
  return problems;
}

// ---------------------------------------------------------------------------------------------
// the sidecars' NetworkPolicy

/**
 * A NetworkPolicy selects the sidecar pods (not the gateways) and lets in only the gateway pods of
 * the same namespace on the gRPC port; its only other rule is the metrics port from a namespace
 * selector (Prometheus). A rule without ports or without sources would let everything in.
 */
export function checkNetworkPolicy(objects: K8sObject[]): string[] {
  const sidecarLabels = podLabels(mustFind(objects, "Deployment", NAMES.sidecar));
  const gatewayLabels = podLabels(mustFind(objects, "Deployment", NAMES.gateway));
  const policies = objects.filter(
    (o) => o.kind === "NetworkPolicy" && selects(o.spec?.podSelector, sidecarLabels),
  );
  if (policies.length === 0) return ["no NetworkPolicy selects the sidecar pods"];
  const problems: string[] = [];
  for (const p of policies) {
    const say = (what: string) => problems.push(`${nameOf(p)}: ${what}`);
    if (selects(p.spec.podSelector, gatewayLabels)) say("its podSelector also selects the gateway pods");
    if (!(p.spec.policyTypes ?? []).includes("Ingress")) say("policyTypes must include Ingress");
    const rules: Json[] = p.spec.ingress ?? [];
    let grpcFromGateway = false;
    for (const [i, rule] of rules.entries()) {
      const at = `ingress[${i}]`;
      const ports: number[] = (rule.ports ?? []).map((x: Json) => x.port);
      const from: Json[] = rule.from ?? [];
      if (ports.length === 0) {
        say(`${at} names no port, so it opens every port`);
        continue;
      }
      if (from.length === 0) {
        say(`${at} names no source, so it lets every pod and address in`);
        continue;
      }
      for (const port of ports) {
        if (port === GRPC_PORT) {
          for (const peer of from) {
            if (peer.namespaceSelector || peer.ipBlock || !selects(peer.podSelector, gatewayLabels))
              say(
                `${at}: port ${GRPC_PORT} must be open only to the gateway pods, got ${JSON.stringify(peer)}`,
              );
            else grpcFromGateway = true;
          }
        } else if (port === METRICS_PORT) {
          for (const peer of from)
            if (!peer.namespaceSelector || peer.ipBlock)
              say(
                `${at}: port ${METRICS_PORT} is for Prometheus, from a namespace selector; got ${JSON.stringify(peer)}`,
              );
        } else
          say(
            `${at}: opens port ${port}; only ${GRPC_PORT} (gateways) and ${METRICS_PORT} (metrics) are served`,
          );
      }
    }
    if (!grpcFromGateway) say(`no rule lets the gateway pods reach port ${GRPC_PORT}`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// GPU

/** The GPU overlay: every sidecar requests and is limited to an NVIDIA GPU, on GPU nodes. */
export function checkGpu(objects: K8sObject[]): string[] {
  const sidecar = mustFind(objects, "Deployment", NAMES.sidecar);
  const pod = sidecar.spec.template.spec;
  const c = container(sidecar);
  const problems: string[] = [];
  const say = (what: string) => problems.push(`${nameOf(sidecar)}: ${what}`);
  for (const kind of ["requests", "limits"])
    if (!(Number(c.resources?.[kind]?.["nvidia.com/gpu"]) >= 1))
      say(`resources.${kind} has no nvidia.com/gpu`);
  if (!(pod.tolerations ?? []).some((t: Json) => t.key === "nvidia.com/gpu"))
    say("no toleration for the nvidia.com/gpu taint of GPU nodes");
  if (Object.keys(pod.nodeSelector ?? {}).length === 0) say("no nodeSelector for GPU nodes");
  if (flagValue(c.args ?? [], "--backend") !== "cuda") say("--backend must be cuda");
  return problems;
}

/** The CPU overlay: no GPU asked for, the CPU backend. */
export function checkCpu(objects: K8sObject[]): string[] {
  const sidecar = mustFind(objects, "Deployment", NAMES.sidecar);
  const c = container(sidecar);
  const problems: string[] = [];
  if (c.resources?.requests?.["nvidia.com/gpu"] || c.resources?.limits?.["nvidia.com/gpu"])
    problems.push(`${nameOf(sidecar)}: the CPU overlay asks for a GPU`);
  if (flagValue(c.args ?? [], "--backend") !== "cpu")
    problems.push(`${nameOf(sidecar)}: --backend must be cpu`);
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Dockerfiles

/**
 * dockerfile-utils' diagnostics (what the Docker builder would refuse or warn about), then the
 * project's rules: several stages, every base image pinned to an exact version, and a final
 * stage that runs as a numeric non-root user (so Kubernetes' runAsNonRoot can verify it) with
 * an explicit CMD or ENTRYPOINT.
 */
export function lintDockerfile(file: string, text: string): string[] {
  const problems = lintDockerfileText(text).map((d) => `${file}:${d.range.start.line + 1}: ${d.message}`);
  const dockerfile = DockerfileParser.parse(text);
  const froms = dockerfile.getFROMs();
  if (froms.length < 2) problems.push(`${file}: one stage: build tools would ship in the image`);
  const stages = new Set<string>();
  for (const from of froms) {
    const line = (from.getRange().start.line ?? 0) + 1;
    const image = from.getImageName() ?? "";
    if (!stages.has(image)) {
      const tag = from.getImageTag();
      if (!from.getImageDigest() && (!tag || !/^v?\d+\.\d+/.test(tag)))
        problems.push(`${file}:${line}: base image ${from.getImage()} is not pinned to an exact version tag`);
    }
    const stage = from.getBuildStage();
    if (stage) stages.add(stage);
  }
  const last = froms[froms.length - 1];
  const finalStage = dockerfile
    .getInstructions()
    .filter((i) => last && i.getRange().start.line > last.getRange().start.line);
  const users = finalStage.filter((i) => i.getKeyword() === "USER");
  const user = users[users.length - 1]?.getArgumentsContent()?.trim();
  const match = user?.match(/^(\d+)(?::(\d+))?$/);
  if (!match)
    problems.push(`${file}: the final stage must end as a numeric USER (uid[:gid]), got ${user ?? "none"}`);
  else if (Number(match[1]) === 0 || match[2] === "0")
    problems.push(`${file}: the final stage runs as root (USER ${user})`);
  if (!finalStage.some((i) => i.getKeyword() === "CMD" || i.getKeyword() === "ENTRYPOINT"))
    problems.push(`${file}: the final stage sets no CMD or ENTRYPOINT`);
  return problems;
}

// ---------------------------------------------------------------------------------------------
// all of it

/** Every check that applies to what `dir` renders. */
export function checkKustomization(dir: string, objects: K8sObject[], documented: Set<string>): string[] {
  const problems = [
    ...checkSchemas(objects),
    ...checkGatewayConfig(objects, documented),
    ...checkTermination(objects),
    ...checkPods(objects),
    ...checkWiring(objects),
    ...checkNetworkPolicy(objects),
  ];
  if (dir.endsWith("/gpu")) problems.push(...checkGpu(objects));
  if (dir.endsWith("/cpu")) problems.push(...checkCpu(objects));
  return problems;
}

function main(): void {
  const documented = documentedNames();
  let failed = 0;
  for (const dir of KUSTOMIZATIONS) {
    let problems: string[];
    let count = 0;
    try {
      const objects = render(dir);
      count = objects.length;
      problems = checkKustomization(dir, objects, documented);
    } catch (err) {
      problems = [(err as Error).message];
    }
    failed += problems.length;
    console.log(`${dir}: ${count} objects, ${problems.length === 0 ? "ok" : `${problems.length} problems`}`);
    for (const p of problems) console.log(`  ${dir}: ${p}`);
  }
  for (const file of DOCKERFILES) {
    const problems = lintDockerfile(file, readFileSync(join(REPO_ROOT, file), "utf8"));
    failed += problems.length;
    console.log(`${file}: ${problems.length === 0 ? "ok" : `${problems.length} problems`}`);
    for (const p of problems) console.log(`  ${p}`);
  }
  if (failed > 0) {
    console.error(`k8s:check: ${failed} problems`);
    process.exit(1);
  }
  console.log(`k8s:check: ${KUSTOMIZATIONS.length} kustomizations and ${DOCKERFILES.length} Dockerfiles ok`);
}

if (require.main === module) main();
