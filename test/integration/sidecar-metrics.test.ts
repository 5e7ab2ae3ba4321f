import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { startSidecar } from "../../dev/sidecar-process";
import { serviceCtor } from "../../src/inference/client";
import { testModel } from "../support/models";
import { waitFor } from "../support/wait";

// The sidecar's observability, against the real binary: its Prometheus endpoint
// (--metrics-listen), the W3C traceparent in its request log lines, and ModelInfo's fingerprints.

interface Usage {
  promptTokens: number;
  cachedTokens: number;
  computedTokens: number;
  completionTokens: number;
}
interface Replies {
  Score: { usage: Usage };
  ModelInfo: { kvBlocks: number; tokenizerSha256: string; modelSha256: string };
}
type Unary<T> = (
  req: object,
  meta: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res: T) => void,
) => grpc.ClientUnaryCall;
type Stub = grpc.Client & { [M in keyof Replies]: Unary<Replies[M]> } & {
  Generate(
    req: object,
    meta: grpc.Metadata,
    opts: grpc.CallOptions,
  ): grpc.ClientReadableStream<{ done?: { usage: Usage } }>;
};

/** A sidecar with its metrics endpoint on a free port, its stderr lines kept. */
async function sidecar(modelDir: string) {
  const lines: string[] = [];
  const proc = await startSidecar({
    modelDir,
    threads: 1,
    kvBudgetMb: 64,
    args: ["--metrics-listen", "127.0.0.1:0"],
    onLog: (line) => lines.push(line),
  });
  let metricsUrl = "";
  await waitFor("the sidecar's metrics line", async () => {
    metricsUrl =
      /^metrics: (http:\/\/\S+\/metrics)$/.exec(lines.find((l) => l.startsWith("metrics: ")) ?? "")?.[1] ??
      "";
    return metricsUrl !== "";
  });
  const stub = new (serviceCtor())(proc.address, grpc.credentials.createInsecure()) as unknown as Stub;
  return { proc, lines, metricsUrl, stub };
}
type Sidecar = Awaited<ReturnType<typeof sidecar>>;

function unary<M extends keyof Replies>(
  s: Sidecar,
  method: M,
  req: object,
  meta = new grpc.Metadata(),
): Promise<Replies[M]> {
  return new Promise((resolve, reject) => {
    const call = (s.stub[method] as unknown as Unary<Replies[M]>).bind(s.stub);
    call(req, meta, { deadline: Date.now() + 30_000 }, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

/** The Done event's usage of a Generate call, once the stream has ended. */
function generate(s: Sidecar, req: object, meta = new grpc.Metadata()): Promise<Usage> {
  return new Promise((resolve, reject) => {
    let usage: Usage | undefined;
    const call = s.stub.Generate(req, meta, { deadline: Date.now() + 30_000 });
    call.on("data", (ev: { done?: { usage: Usage } }) => {
      if (ev.done) usage = ev.done.usage;
    });
    call.on("error", reject);
    call.on("end", () => (usage ? resolve(usage) : reject(new Error("Generate ended without a Done event"))));
  });
}

/** One scrape: every sample keyed by its name and its labels in name order, `name{a="x",b="y"}`. */
async function scrape(url: string): Promise<Map<string, number>> {
  const res = await fetch(url);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
  const samples = new Map<string, number>();
  for (const line of (await res.text()).split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels = [...(m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => [k, v]);
    samples.set(key(m[1], Object.fromEntries(labels)), Number(m[3]));
  }
  return samples;
}

function key(name: string, labels: Record<string, string> = {}): string {
  const ls = Object.keys(labels)
    .sort()
    .map((k) => `${k}="${labels[k]}"`);
  return ls.length ? `${name}{${ls.join(",")}}` : name;
}

/** The value of a series; fails when the scrape lacks it. */
function value(samples: Map<string, number>, name: string, labels: Record<string, string> = {}): number {
  const v = samples.get(key(`brewgate_sidecar_${name}`, labels));
  assert.ok(v !== undefined, `no series ${key(`brewgate_sidecar_${name}`, labels)} in the scrape`);
  return v;
}

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

/**
 * ModelInfo.model_sha256 as proto/inference.proto defines it: config.json (length as u64le, then
 * its bytes), then each safetensors file's first 8 + N bytes, files in name order.
 */
function modelFingerprint(dir: string): string {
  const h = createHash("sha256");
  const config = readFileSync(join(dir, "config.json"));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(config.length));
  h.update(len).update(config);
  const index = join(dir, "model.safetensors.index.json");
  const files = existsSync(index)
    ? [
        ...new Set(
          Object.values(JSON.parse(readFileSync(index, "utf8")).weight_map as Record<string, string>),
        ),
      ].sort()
    : ["model.safetensors"];
  for (const f of files) {
    const bytes = readFileSync(join(dir, f));
    h.update(bytes.subarray(0, 8 + Number(bytes.readBigUInt64LE(0))));
  }
  return h.digest("hex");
}

const ids = (n: number, start: number) => Array.from({ length: n }, (_, i) => (start + i * 7) % 2000);

describe("sidecar metrics, trace context and model fingerprint", () => {
  let s: Sidecar;
  before(async () => {
    s = await sidecar(testModel());
  });
  after(async () => {
    s?.stub.close();
    await s?.proc.stop();
  });

  it("counts requests, prefill, decode and prefix-cache tokens where the work was done", async () => {
    const before = await scrape(s.metricsUrl);
    const score = (prefix: number[]) =>
      unary(s, "Score", {
        prefixIds: prefix,
        candidates: [
          { id: "a", ids: ids(3, 500) },
          { id: "b", ids: ids(5, 600) },
        ],
        labels: [
          { name: "apply", ids: [10] },
          { name: "view", ids: [11, 12] },
        ],
      });
    const prefix = ids(40, 3);
    const first = (await score(prefix)).usage;
    const again = (await score(prefix)).usage;
    assert.equal(first.cachedTokens, 0);
    assert.equal(
      again.cachedTokens,
      32,
      "the repeated prefix's two full 16-token blocks come from the cache",
    );
    await assert.rejects(
      score([...prefix, 99_999]),
      (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT,
    );
    const gen = await generate(s, { promptIds: ids(20, 11), maxTokens: 5 });
    assert.ok(gen.completionTokens >= 1);
    const now = await scrape(s.metricsUrl);
    const delta = (name: string, labels: Record<string, string> = {}) =>
      value(now, name, labels) - value(before, name, labels);

    assert.equal(delta("requests_total", { rpc: "score", outcome: "ok" }), 2);
    assert.equal(delta("requests_total", { rpc: "score", outcome: "invalid" }), 1);
    assert.equal(delta("requests_total", { rpc: "generate", outcome: "ok" }), 1);
    assert.equal(delta("requests_total", { rpc: "generate", outcome: "cancelled" }), 0);

    const prefill = [first, again, gen].reduce((n, u) => n + u.promptTokens - u.cachedTokens, 0);
    assert.equal(delta("prefill_tokens_total"), prefill, "prefill = prompt tokens sent - cached");
    assert.equal(
      delta("decode_tokens_total"),
      gen.completionTokens - 1,
      "each generated token but the last is fed back",
    );
    assert.equal(delta("generated_tokens_total"), gen.completionTokens);
    assert.equal(
      delta("prefill_tokens_total") + delta("decode_tokens_total"),
      first.computedTokens + again.computedTokens + gen.computedTokens,
    );
    assert.equal(delta("prefix_cache_hit_tokens_total"), 32);
    // Looked up: each Score's 40-token prefix, and the Generate prompt but its last token.
    assert.equal(
      delta("prefix_cache_hit_tokens_total") + delta("prefix_cache_miss_tokens_total"),
      40 + 40 + 19,
    );
    assert.equal(
      delta("step_tokens_sum"),
      prefill + gen.completionTokens - 1,
      "steps computed every token counted",
    );
    assert.ok(delta("step_tokens_count") >= 3, `${delta("step_tokens_count")} steps`);
    assert.equal(delta("step_seconds_count"), delta("step_tokens_count"));
    assert.ok(delta("step_seconds_sum") > 0);

    const info = await unary(s, "ModelInfo", {});
    let idle = now;
    await waitFor("the engine to go idle in /metrics", async () => {
      idle = await scrape(s.metricsUrl);
      return value(idle, "running_requests") === 0;
    });
    assert.equal(value(idle, "queue_depth"), 0);
    assert.equal(value(idle, "kv_blocks_used") + value(idle, "kv_blocks_free"), info.kvBlocks);
    assert.ok(value(idle, "kv_blocks_cached") >= 2, "the prefix's blocks stay in the prefix cache");
    assert.equal(
      value(idle, "kv_blocks_used"),
      value(idle, "kv_blocks_cached"),
      "only the cache holds blocks",
    );
  });

  it("logs the caller's traceparent with the request's log line", async () => {
    const traceId = randomBytes(16).toString("hex");
    const spanId = randomBytes(8).toString("hex");
    const meta = (traceparent: string) => {
      const m = new grpc.Metadata();
      m.set("traceparent", traceparent);
      return m;
    };
    const req = (id: string) => ({
      requestId: id,
      prefixIds: ids(8, 1),
      candidates: [{ id: "c", ids: [4, 5] }],
      labels: [{ name: "l", ids: [6] }],
    });
    await unary(s, "Score", req("traced-score"), meta(`00-${traceId}-${spanId}-01`));
    await unary(s, "Score", req("malformed-trace"), meta(`00-${traceId.toUpperCase()}-${spanId}-01`));
    await generate(
      s,
      { requestId: "traced-gen", promptIds: ids(6, 2), maxTokens: 2 },
      meta(`00-${traceId}-${spanId}-00`),
    );
    const lineOf = async (id: string) => {
      await waitFor(`the sidecar's log line of ${id}`, async () =>
        s.lines.some((l) => l.includes(` id=${id} `)),
      );
      return s.lines.find((l) => l.includes(` id=${id} `)) ?? "";
    };
    const score = await lineOf("traced-score");
    assert.match(score, /^score /);
    assert.match(score, /status=ok/);
    assert.ok(score.includes(` trace_id=${traceId} span_id=${spanId}`), score);
    const gen = await lineOf("traced-gen");
    assert.match(gen, /^generate /);
    assert.ok(gen.includes(` trace_id=${traceId} span_id=${spanId}`), gen);
    const malformed = await lineOf("malformed-trace");
    assert.ok(malformed.endsWith(" trace_id=- span_id=-"), malformed);
  });

  it("reports the tokenizer's SHA-256 and a model fingerprint that follows config.json", async () => {
    const dir = testModel();
    const info = await unary(s, "ModelInfo", {});
    assert.equal(info.tokenizerSha256, sha256(readFileSync(join(dir, "tokenizer.json"))));
    assert.match(info.modelSha256, /^[0-9a-f]{64}$/);
    assert.equal(info.modelSha256, modelFingerprint(dir));

    const copy = mkdtempSync(join(tmpdir(), "brewgate-fingerprint-"));
    let other: Sidecar | undefined;
    try {
      cpSync(dir, copy, { recursive: true });
      const config = JSON.parse(readFileSync(join(copy, "config.json"), "utf8"));
      writeFileSync(
        join(copy, "config.json"),
        JSON.stringify({ ...config, transformers_version: "0.0.0-test" }),
      );
      other = await sidecar(copy);
      const changed = await unary(other, "ModelInfo", {});
      assert.equal(changed.tokenizerSha256, info.tokenizerSha256);
      assert.notEqual(changed.modelSha256, info.modelSha256);
      assert.equal(changed.modelSha256, modelFingerprint(copy));
    } finally {
      other?.stub.close();
      await other?.proc.stop();
      rmSync(copy, { recursive: true, force: true });
    }
  });
});
