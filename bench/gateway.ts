import { parseArgs } from "node:util";
import { seedDemoData } from "../dev/demo-seed";
import { createDb } from "../src/db/client";
import { startGatewayProcess } from "../test/support/gateway-process";
import { createTestDatabase } from "../test/support/postgres";
import { processCpuMs } from "./cpu";
import { httpPoster } from "./http";
import { closedLoop, coreSplit, pin } from "./load";
import { benchModel } from "./models";
import { runBench } from "./run";
import { percentile, round } from "./stats";
import { startStubSidecar } from "./stub-sidecar";

/**
 * The gateway's own cost per ranking, with no model around it: `recommendations` (50 candidates,
 * a ~1,500-token member prefix, as bench:e2e) through the gateway process against a stub sidecar
 * that answers Score at once. What is left is HTTP, GraphQL, the database, prompt building,
 * tokenizing, gRPC and the impression. Three phases of `requests` rankings each:
 *
 * - hot: one client, each request sent as the last is answered;
 * - idle: one client, 50 ms between requests (as the gateway sees a real engine's steps: the
 *   process sleeps between rankings, and on a small VM each wake-up costs);
 * - conc4: four clients, no pause (throughput of one gateway process).
 *
 * The gateway runs on every core but the last, the stub sidecar and the load generator on the
 * last; PostgreSQL where the OS puts it. CPU per ranking is the gateway process's (from /proc).
 * A bench for comparing gateway changes quickly; bench:e2e is the one with a real model.
 */

const { values: args } = parseArgs({
  options: {
    requests: { type: "string", default: "500" },
    candidates: { type: "string", default: "50" },
    "prefix-tokens": { type: "string", default: "1500" },
    "node-flags": { type: "string", default: "--max-semi-space-size=32" },
  },
});
const REQUESTS = Number(args.requests);
const CANDIDATES = Number(args.candidates);
const MEMBERS = 10;
const log = (msg: string) => process.stderr.write(`bench:gateway ${msg}\n`);

async function main() {
  const modelDir = benchModel("small", log);
  const pg = await createTestDatabase();
  const stub = await startStubSidecar(4096);
  const gateway = await startGatewayProcess(
    {
      DATABASE_URL: pg.url,
      MODEL_DIR: modelDir,
      INFERENCE_ADDRESSES: stub.address,
      LOG_LEVEL: "warn",
      IDE_ENABLED: "false",
      PROMPT_MAX_TOKENS: String(args["prefix-tokens"]),
      NODE_ENV: "production",
    },
    String(args["node-flags"]).split(" ").filter(Boolean),
  );
  const { last, others } = coreSplit();
  if (last !== "0") {
    pin(gateway.child.pid, others);
    pin(process.pid, last);
  }
  const db = createDb(pg.url, { max: 2 });
  try {
    await seedDemoData(db, {
      members: MEMBERS,
      items: 400,
      interactions: 600,
      impressions: 0,
      shownPerImpression: 0,
    });
    const post = httpPoster(4);
    const queries = Array.from({ length: MEMBERS }, (_, m) => {
      const ids = Array.from({ length: CANDIDATES }, (_, i) => `job-${((m * 37 + i * 7) % 400) + 1}`);
      return JSON.stringify({
        query: `{ recommendations(memberId: "member-${m + 1}", task: "job_apply", candidateIds: ${JSON.stringify(ids)}, first: ${CANDIDATES}) { requestId items { itemId score } timings { totalMs } } }`,
      });
    });
    const rank = async (i: number) => {
      const body = await post(gateway.url, queries[i % MEMBERS]);
      if (!body.includes('"requestId"')) throw new Error(`ranking failed: ${body.slice(0, 500)}`);
    };
    log("warming up");
    for (let i = 0; i < 300; i++) await rank(i);

    const phase = async (name: string, concurrency: number, gapMs: number) => {
      log(`${name}: ${REQUESTS} rankings, concurrency ${concurrency}, ${gapMs} ms between`);
      const cpu = processCpuMs(gateway.child.pid);
      const started = performance.now();
      const latencies = (await closedLoop(REQUESTS, concurrency, rank, gapMs)).map((x) => x.latencyMs);
      const seconds = (performance.now() - started) / 1000;
      const used = processCpuMs(gateway.child.pid);
      latencies.sort((a, b) => a - b);
      return {
        p50: round(percentile(latencies, 0.5)),
        p99: round(percentile(latencies, 0.99)),
        cpu: cpu === null || used === null ? null : round((used - cpu) / REQUESTS),
        perSecond: round(REQUESTS / seconds),
      };
    };
    const hot = await phase("hot", 1, 0);
    const idle = await phase("idle", 1, 50);
    const conc4 = await phase("conc4", 4, 0);
    process.stdout.write(
      `${JSON.stringify({
        candidates: CANDIDATES,
        requests_per_phase: REQUESTS,
        hot_p50_ms: hot.p50,
        hot_p99_ms: hot.p99,
        hot_cpu_ms_per_rec: hot.cpu,
        idle_p50_ms: idle.p50,
        idle_p99_ms: idle.p99,
        idle_cpu_ms_per_rec: idle.cpu,
        conc4_p50_ms: conc4.p50,
        conc4_p99_ms: conc4.p99,
        conc4_cpu_ms_per_rec: conc4.cpu,
        conc4_rec_per_s: conc4.perSecond,
      })}\n`,
    );
  } finally {
    await db.$disconnect();
    await gateway.stop();
    await stub.stop();
    await pg.drop();
  }
}

runBench("bench:gateway", main);
