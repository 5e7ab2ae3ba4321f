import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import { seedDemoData } from "../dev/demo-seed";
import { startSidecar } from "../dev/sidecar-process";
import { createDb } from "../src/db/client";
import { InferenceClient } from "../src/inference/client";
import type { ScoreRequest } from "../src/inference/types";
import { IncrementalDetokenizer } from "../src/prompt/detokenizer";
import { TextTokenizer } from "../src/prompt/tokenizer";
import { EXPLANATION_CUE } from "../src/ranking/explain";
import { startGatewayProcess } from "../test/support/gateway-process";
import { createTestDatabase } from "../test/support/postgres";
import { processCpuMs } from "./cpu";
import { httpPoster } from "./http";
import { closedLoop, pin, replicaCores } from "./load";
import { benchModel } from "./models";
import { runBench } from "./run";
import { percentile, round } from "./stats";

/**
 * End-to-end latency of the gateway against the sidecar it fronts, in one run:
 *
 * - rankings: `recommendations` with 50 candidates per request, `concurrency` clients each
 *   sending its next request when the last one is answered, through the gateway (a separate
 *   process, as deployed), and the very same Score requests (same token ids, taken from the
 *   gateway's `prompt` query) sent straight to the sidecar the same way. Rounds alternate between
 *   the two paths, so both see the same prefix-cache state and machine load.
 * - explanations: time to the first streamed text of an `explanation` subscription, and the same
 *   sidecar work done directly (the Score of the item, then Generate until the first token that
 *   decodes to text, through the same incremental detokenizer). Each pair runs after an untimed
 *   direct run of the same work, so both find the sidecar's prefix cache equally warm.
 *
 * Ranking overheads: each request's time outside the sidecar's engine (its latency minus the
 * engine's own `timings.totalMs` for that very request: HTTP, GraphQL, the database, tokenizing,
 * gRPC), gateway minus direct at the same percentile. Subtracting each request's engine time
 * takes out what continuous batching did to it, which depends on how the requests happened to
 * line up in the sidecar's steps (a step of a CPU sidecar takes tens to hundreds of ms), not on
 * the gateway. The plain latency differences are printed too (`rec_minus_direct_*`).
 * TTFT overhead: gateway minus direct at the median. `gateway_cpu_ms_per_rec` is the gateway
 * process's CPU time (from /proc) over its rounds per ranking: where the gateway shares a core with
 * the database and the load generator, a burst of answers waits in line for about that much per
 * request ahead of it. `gateway_overhead_p99_steady_ms` leaves out each round's first burst (see
 * `steady` below); `gateway_overhead_p99_ms` keeps it. The last line is JSON.
 *
 * `--gateways N` runs N gateway processes (replicas, as behind a Kubernetes Service) and sends
 * ranking i to replica i mod N; on a machine with cores enough, each replica gets a core of its own
 * (see `replicaCores`). Explanations and the prompts of the work list go through the first one.
 */

const { values: args } = parseArgs({
  options: {
    requests: { type: "string", default: "200" },
    concurrency: { type: "string", default: "4" },
    "prefix-tokens": { type: "string", default: "1500" },
    candidates: { type: "string", default: "50" },
    explanations: { type: "string", default: "100" },
    threads: { type: "string", default: "1" },
    // Gateway processes behind the load generator's round robin.
    gateways: { type: "string", default: "1" },
    // demo: the shape `npm start` serves. small: a quarter of its width and half its depth, for
    // when the sidecar's CPU compute would drown the gateway's milliseconds (same tokenizer).
    model: { type: "string", default: "demo" },
    // By default the sidecar runs on its own cores (the last `threads` of them, at least the last
    // one), so the gateway's overhead is not the sidecar's threads competing for the same cores;
    // see `replicaCores` for where the gateways and the load generator go.
    "no-pin": { type: "boolean", default: false },
    // The load generator's HTTP client: node:http on kept-alive sockets, or fetch (to compare).
    client: { type: "string", default: "http" },
    // Node flags of the gateway process: those the README recommends for production.
    "node-flags": { type: "string", default: "--max-semi-space-size=32" },
    // Writes every ranking's latency and engine time, in the order sent, to this JSON file.
    samples: { type: "string" },
  },
});
const REQUESTS = Number(args.requests);
const CONCURRENCY = Number(args.concurrency);
const PIN = !args["no-pin"];
const CANDIDATES = Number(args.candidates);
const EXPLANATIONS = Number(args.explanations);
const GATEWAYS = Number(args.gateways);
const MEMBERS = 10;

const log = (msg: string) => process.stderr.write(`bench:e2e ${msg}\n`);

function poster(client: string | undefined): (url: string, body: string) => Promise<string> {
  if (client === "http") return httpPoster(CONCURRENCY);
  if (client === "fetch") {
    return async (url, body) =>
      (await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body })).text();
  }
  throw new Error(`--client must be http or fetch, got '${client}'`);
}
const post = poster(args.client);

async function gql<T>(url: string, query: string): Promise<T> {
  const body = JSON.parse(await post(url, JSON.stringify({ query }))) as { data?: T; errors?: unknown[] };
  if (body.errors) throw new Error(`GraphQL error: ${JSON.stringify(body.errors)}`);
  return body.data as T;
}

interface Sample {
  /** As the client saw it. */
  latencyMs: number;
  /** The sidecar engine's own time on the request (ScoreResponse.timings.totalMs). */
  engineMs: number;
}

/** Closed-loop results whose jobs resolved with the engine's time. */
const samples = (xs: { latencyMs: number; value: number }[]): Sample[] =>
  xs.map(({ latencyMs, value }) => ({ latencyMs, engineMs: value }));

async function main() {
  if (!Number.isInteger(GATEWAYS) || GATEWAYS < 1) {
    throw new Error(`--gateways must be 1 or more, got ${args.gateways}`);
  }
  const modelDir = benchModel(String(args.model), log);
  const pg = await createTestDatabase();
  const sidecar = await startSidecar({ modelDir, threads: Number(args.threads), kvBudgetMb: 512 });
  const env = {
    DATABASE_URL: pg.url,
    MODEL_DIR: modelDir,
    INFERENCE_ADDRESSES: sidecar.address,
    LOG_LEVEL: "warn",
    IDE_ENABLED: "false",
    // The shape of the sidecar benchmark: a 1,500-token member prefix, 50 candidates.
    PROMPT_MAX_TOKENS: String(args["prefix-tokens"]),
    // A CPU sidecar under this load answers in seconds; the bench measures, it does not time out.
    SCORE_TIMEOUT_MS: "120000",
    // As deployed: graphql-js, Express and Apollo skip their development-time checks.
    NODE_ENV: "production",
    // This bench compares the gateway's path with the sidecar's; bench:gateway measures what
    // authentication and limits add. Its load comes from one address without credentials.
    AUTH_REQUIRED: "false",
    RATE_LIMIT_SERVICE_POINTS: "0",
  };
  const nodeFlags = String(args["node-flags"]).split(" ").filter(Boolean);
  const gateways = await Promise.all(
    Array.from({ length: GATEWAYS }, () => startGatewayProcess(env, nodeFlags)),
  );
  const gateway = gateways[0];
  // Whether each gateway had a core to itself (else they share theirs with the load generator).
  let ownCores = false;
  if (PIN) {
    const cores = replicaCores(Number(args.threads), GATEWAYS);
    ownCores = !cores.shared;
    pin(sidecar.process.pid, cores.sidecar);
    for (const [i, g] of gateways.entries()) pin(g.child.pid, cores.gateways[i]);
    pin(process.pid, cores.load);
    log(
      `pinned: sidecar on cpu ${cores.sidecar}, gateway${GATEWAYS > 1 ? "s" : ""} on cpu ${cores.gateways.join(" / ")}, load generator on cpu ${cores.load}`,
    );
  }
  /** CPU time of every gateway process so far, in ms; null where there is no /proc. */
  const gatewaysCpuMs = () => {
    let sum = 0;
    for (const g of gateways) {
      const ms = processCpuMs(g.child.pid);
      if (ms === null) return null;
      sum += ms;
    }
    return sum;
  };
  const direct = new InferenceClient({ addresses: [sidecar.address], scoreTimeoutMs: 120_000 });
  const db = createDb(pg.url, { max: 2 });
  const ws = createClient({
    url: gateway.url.replace(/^http/, "ws"),
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    // One socket for the whole run, as a subscribing client keeps it: each explanation is a new
    // subscription on it, not a new connection (the direct path reuses its gRPC channel too).
    lazy: false,
  });
  try {
    await seedDemoData(db, {
      members: MEMBERS,
      items: 400,
      interactions: 600,
      impressions: 0,
      shownPerImpression: 0,
    });
    const tokenizer = await TextTokenizer.fromFile(join(modelDir, "tokenizer.json"));

    // One fixed candidate list per member; its prompt (token ids) comes from the gateway itself.
    log(`preparing ${MEMBERS} members x ${CANDIDATES} candidates`);
    const work: {
      member: string;
      ids: string[];
      score: ScoreRequest;
      explainPrompt: number[];
      item: string;
    }[] = [];
    for (let m = 0; m < MEMBERS; m++) {
      const member = `member-${m + 1}`;
      const ids = Array.from({ length: CANDIDATES }, (_, i) => `job-${((m * 37 + i * 7) % 400) + 1}`);
      const list = JSON.stringify(ids);
      const { prompt } = await gql<{
        prompt: {
          prefixTokenIds: number[];
          candidates: { itemId: string; text: string; tokenIds: number[] }[];
          labels: { answer: string; tokenIds: number[] }[];
        };
      }>(
        gateway.url,
        `{ prompt(memberId: "${member}", task: "job_apply", candidateIds: ${list}) { prefixTokenIds candidates { itemId text tokenIds } labels { answer tokenIds } } }`,
      );
      const c0 = prompt.candidates[0];
      const tail = await tokenizer.encode(`${c0.text} ${prompt.labels[0].answer}.${EXPLANATION_CUE}`);
      work.push({
        member,
        ids,
        item: c0.itemId,
        score: {
          requestId: "",
          prefixIds: prompt.prefixTokenIds,
          candidates: prompt.candidates.map((c) => ({ id: c.itemId, ids: c.tokenIds })),
          labels: prompt.labels.map((l) => ({ name: l.answer, ids: l.tokenIds })),
        },
        explainPrompt: [...prompt.prefixTokenIds, ...tail],
      });
    }
    const viaGateway = async (w: (typeof work)[number], replica = 0) => {
      const { recommendations } = await gql<{ recommendations: { timings: { totalMs: number } } }>(
        gateways[replica % GATEWAYS].url,
        `{ recommendations(memberId: "${w.member}", task: "job_apply", candidateIds: ${JSON.stringify(w.ids)}, first: ${CANDIDATES}) { requestId items { itemId score } timings { totalMs } } }`,
      );
      return recommendations.timings.totalMs;
    };
    const viaSidecar = async (w: (typeof work)[number]) => (await direct.score(w.score)).timings.totalMs;

    log("warming up (every member's prefix into the sidecar's cache, both paths)");
    for (const w of work) {
      for (let g = 0; g < GATEWAYS; g++) await viaGateway(w, g);
      await viaSidecar(w);
    }

    const rounds = 4;
    const per = Math.ceil(REQUESTS / rounds);
    const recGateway: Sample[] = [];
    const recDirect: Sample[] = [];
    let gatewaySeconds = 0;
    // The gateway's own CPU per ranking: on a machine where it shares cores with the database and
    // the load generator, this times the queue depth is what a burst of answers waits at p99.
    let gatewayCpuMs: number | null = 0;
    // The load generator's own CPU on each path (it shares the gateway's core).
    let loadCpuGateway = 0;
    let loadCpuDirect = 0;
    const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;
    for (let r = 0; r < rounds; r++) {
      log(`round ${r + 1}/${rounds}: ${per} rankings through the gateway and ${per} straight to the sidecar`);
      const t = performance.now();
      const cpu = gatewaysCpuMs();
      let own = process.cpuUsage();
      recGateway.push(
        ...samples(await closedLoop(per, CONCURRENCY, (i) => viaGateway(work[i % work.length], i))),
      );
      loadCpuGateway += cpuMs(process.cpuUsage(own));
      gatewaySeconds += (performance.now() - t) / 1000;
      const used = gatewaysCpuMs();
      gatewayCpuMs =
        gatewayCpuMs === null || cpu === null || used === null ? null : gatewayCpuMs + used - cpu;
      own = process.cpuUsage();
      recDirect.push(
        ...samples(await closedLoop(per, CONCURRENCY, (i) => viaSidecar(work[i % work.length]))),
      );
      loadCpuDirect += cpuMs(process.cpuUsage(own));
    }
    if (args.samples) writeFileSync(args.samples, JSON.stringify({ gateway: recGateway, direct: recDirect }));
    const sorted = (xs: number[]) => xs.sort((a, b) => a - b);
    const gLatency = sorted(recGateway.map((x) => x.latencyMs));
    const dLatency = sorted(recDirect.map((x) => x.latencyMs));
    const gOutside = sorted(recGateway.map((x) => x.latencyMs - x.engineMs));
    const dOutside = sorted(recDirect.map((x) => x.latencyMs - x.engineMs));
    // Without each round's first burst: it meets a gateway that sat idle through the other
    // path's round (15 s to minutes) and pays 20-80 ms on this machine for waking up (GC, code
    // and caches gone cold, the task definition's refresh). The headline keeps every sample.
    const steady = (xs: Sample[]) =>
      sorted(xs.filter((_, i) => i % per >= CONCURRENCY).map((x) => x.latencyMs - x.engineMs));
    const gSteady = steady(recGateway);
    const dSteady = steady(recDirect);

    log(`${EXPLANATIONS} explanations, one at a time, gateway and direct on an equally warm sidecar`);
    /** The direct path: Score the item, then Generate until the first text; ms to that text. */
    const directExplanation = async (w: (typeof work)[number]) => {
      const t = performance.now();
      await direct.score({ ...w.score, candidates: [w.score.candidates[0]] });
      const detok = new IncrementalDetokenizer(tokenizer);
      const stream = direct.generate({ requestId: "", promptIds: w.explainPrompt, maxTokens: 16 });
      try {
        for await (const ev of stream) {
          if (ev.kind !== "token" || ev.id === tokenizer.eosId) continue;
          if (await detok.push(ev.id)) return performance.now() - t;
        }
        return performance.now() - t;
      } finally {
        await stream.return(undefined);
      }
    };
    /** The gateway path: ms to the subscription's first event. */
    const gatewayExplanation = async (w: (typeof work)[number]) => {
      const t = performance.now();
      const sub = ws.iterate({
        query: `subscription { explanation(memberId: "${w.member}", task: "job_apply", itemId: "${w.item}", maxTokens: 16) { delta done } }`,
      });
      const first = await sub.next();
      const ms = performance.now() - t;
      if (first.done || first.value.errors)
        throw new Error(`explanation failed: ${JSON.stringify(first.value)}`);
      await sub.return?.(undefined);
      return ms;
    };
    // A served gateway has run this path many times: let the JIT compile it before timing it.
    for (let i = 0; i < EXPLANATIONS; i++) await gatewayExplanation(work[i % work.length]);
    const ttftGateway: number[] = [];
    const ttftDirect: number[] = [];
    for (let i = 0; i < EXPLANATIONS; i++) {
      const w = work[i % work.length];
      await directExplanation(w);
      ttftGateway.push(await gatewayExplanation(w));
      ttftDirect.push(await directExplanation(w));
    }
    ttftGateway.sort((a, b) => a - b);
    ttftDirect.sort((a, b) => a - b);

    const p = (xs: number[], q: number) => percentile(xs, q) ?? Number.NaN;
    const result = {
      model: args.model,
      sidecar_threads: Number(args.threads),
      gateway_node_flags: nodeFlags.join(" "),
      pinned: PIN,
      gateways: GATEWAYS,
      gateway_own_cores: ownCores,
      candidates: CANDIDATES,
      prefix_tokens: Math.round(work.reduce((n, w) => n + w.score.prefixIds.length, 0) / work.length),
      concurrency: CONCURRENCY,
      requests: recGateway.length,
      rec_p50_ms: round(p(gLatency, 0.5)),
      rec_p99_ms: round(p(gLatency, 0.99)),
      rec_per_s: round(recGateway.length / gatewaySeconds),
      gateway_cpu_ms_per_rec: gatewayCpuMs === null ? null : round(gatewayCpuMs / recGateway.length),
      client: args.client,
      load_cpu_ms_per_rec_gateway: round(loadCpuGateway / recGateway.length),
      load_cpu_ms_per_rec_direct: round(loadCpuDirect / recDirect.length),
      direct_p50_ms: round(p(dLatency, 0.5)),
      direct_p99_ms: round(p(dLatency, 0.99)),
      rec_minus_direct_p50_ms: round(p(gLatency, 0.5) - p(dLatency, 0.5)),
      rec_minus_direct_p99_ms: round(p(gLatency, 0.99) - p(dLatency, 0.99)),
      outside_engine_gateway_p99_ms: round(p(gOutside, 0.99)),
      outside_engine_direct_p99_ms: round(p(dOutside, 0.99)),
      gateway_overhead_p50_ms: round(p(gOutside, 0.5) - p(dOutside, 0.5)),
      gateway_overhead_p99_ms: round(p(gOutside, 0.99) - p(dOutside, 0.99)),
      gateway_overhead_p99_steady_ms: round(p(gSteady, 0.99) - p(dSteady, 0.99)),
      ttft_ms: round(p(ttftGateway, 0.5)),
      ttft_direct_ms: round(p(ttftDirect, 0.5)),
      ttft_overhead_ms: round(p(ttftGateway, 0.5) - p(ttftDirect, 0.5)),
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await ws.dispose();
    direct.close();
    await db.$disconnect();
    await Promise.all(gateways.map((g) => g.stop()));
    await sidecar.stop();
    await pg.drop();
  }
}

runBench("bench:e2e", main);
