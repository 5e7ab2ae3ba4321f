import { parseArgs } from "node:util";
import { seedDemoData } from "../dev/demo-seed";
import { signToken } from "../src/auth/tokens";
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
 *
 * It runs twice, the same phases each time: with authentication and limits on (the keys without
 * a prefix: the gateway as production runs it) and off (`security_off_*`), to show what they cost.
 */

const { values: args } = parseArgs({
  options: {
    requests: { type: "string", default: "500" },
    candidates: { type: "string", default: "50" },
    "prefix-tokens": { type: "string", default: "1500" },
    "node-flags": { type: "string", default: "--max-semi-space-size=32" },
    /** Count rate limits in this Redis (as replicas would share them) instead of in memory. */
    redis: { type: "string" },
    /** Which runs, in which order ("on,off" to see whether the order favours one). */
    modes: { type: "string", default: "off,on" },
  },
});
const REQUESTS = Number(args.requests);
const CANDIDATES = Number(args.candidates);
const MEMBERS = 10;
const log = (msg: string) => process.stderr.write(`bench:gateway ${msg}\n`);

/** The runs: security off, then on (--modes), in one process tree, on the same database. */
type Mode = "off" | "on";
const MODES = String(args.modes)
  .split(",")
  .map((m) => m.trim())
  .filter((m): m is Mode => m === "off" || m === "on");
const SECRET = "bench-gateway-secret-0123456789abcdefghij";

/**
 * The gateway's settings per mode. "on": what production runs: a member JWT on every request
 * (HS256: the signature check is an HMAC; RS256 costs more per token), the authorization table,
 * graphql-armor's rules, the model-cost ceiling and the rate limiter counting every ranking (in
 * memory, or in Redis with --redis; its budget set high enough never to refuse). "off": no
 * credentials, every limit 0.
 */
function securityEnv(mode: Mode): Record<string, string> {
  if (mode === "on") {
    return {
      AUTH_REQUIRED: "true",
      AUTH_JWT_SECRET: SECRET,
      AUTH_JWT_ISSUER: "bench",
      AUTH_JWT_AUDIENCE: "brewgate",
      RATE_LIMIT_MEMBER_POINTS: "1000000000",
      ...(args.redis ? { REDIS_URL: String(args.redis) } : {}),
    };
  }
  const off: Record<string, string> = {
    AUTH_REQUIRED: "false",
    RATE_LIMIT_MEMBER_POINTS: "0",
    RATE_LIMIT_SERVICE_POINTS: "0",
  };
  for (const v of ["DEPTH", "ALIASES", "TOKENS", "DIRECTIVES", "COST", "MODEL_COST"])
    off[`GRAPHQL_MAX_${v}`] = "0";
  return off;
}

async function main() {
  const modelDir = benchModel("small", log);
  const pg = await createTestDatabase();
  const stub = await startStubSidecar(4096);
  const db = createDb(pg.url, { max: 2 });
  const results: Record<string, unknown> = { candidates: CANDIDATES, requests_per_phase: REQUESTS };
  try {
    await seedDemoData(db, {
      members: MEMBERS,
      items: 400,
      interactions: 600,
      impressions: 0,
      shownPerImpression: 0,
    });
    const tokens = await Promise.all(
      Array.from({ length: MEMBERS }, (_, m) =>
        signToken(SECRET, {
          role: "member",
          memberId: `member-${m + 1}`,
          issuer: "bench",
          audience: "brewgate",
          ttlSeconds: 3600,
        }),
      ),
    );
    const queries = Array.from({ length: MEMBERS }, (_, m) => {
      const ids = Array.from({ length: CANDIDATES }, (_, i) => `job-${((m * 37 + i * 7) % 400) + 1}`);
      return JSON.stringify({
        query: `{ recommendations(memberId: "member-${m + 1}", task: "job_apply", candidateIds: ${JSON.stringify(ids)}, first: ${CANDIDATES}) { requestId items { itemId score } timings { totalMs } } }`,
      });
    });
    for (const mode of MODES) {
      const gateway = await startGatewayProcess(
        {
          DATABASE_URL: pg.url,
          MODEL_DIR: modelDir,
          INFERENCE_ADDRESSES: stub.address,
          LOG_LEVEL: "warn",
          IDE_ENABLED: "false",
          PROMPT_MAX_TOKENS: String(args["prefix-tokens"]),
          NODE_ENV: "production",
          ...securityEnv(mode),
        },
        String(args["node-flags"]).split(" ").filter(Boolean),
      );
      try {
        const { last, others } = coreSplit();
        if (last !== "0") {
          pin(gateway.child.pid, others);
          pin(process.pid, last);
        }
        const post = httpPoster(4);
        const rank = async (i: number) => {
          const m = i % MEMBERS;
          const headers = mode === "on" ? { authorization: `Bearer ${tokens[m]}` } : undefined;
          const body = await post(gateway.url, queries[m], headers);
          if (!body.includes('"requestId"'))
            throw new Error(`ranking failed (${mode}): ${body.slice(0, 500)}`);
        };
        log(`security ${mode}: warming up`);
        for (let i = 0; i < 300; i++) await rank(i);
        const phase = async (name: string, concurrency: number, gapMs: number) => {
          log(
            `security ${mode}, ${name}: ${REQUESTS} rankings, concurrency ${concurrency}, ${gapMs} ms between`,
          );
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
        const prefix = mode === "on" ? "" : "security_off_";
        Object.assign(results, {
          [`${prefix}hot_p50_ms`]: hot.p50,
          [`${prefix}hot_p99_ms`]: hot.p99,
          [`${prefix}hot_cpu_ms_per_rec`]: hot.cpu,
          [`${prefix}idle_p50_ms`]: idle.p50,
          [`${prefix}idle_p99_ms`]: idle.p99,
          [`${prefix}idle_cpu_ms_per_rec`]: idle.cpu,
          [`${prefix}conc4_p50_ms`]: conc4.p50,
          [`${prefix}conc4_p99_ms`]: conc4.p99,
          [`${prefix}conc4_cpu_ms_per_rec`]: conc4.cpu,
          [`${prefix}conc4_rec_per_s`]: conc4.perSecond,
        });
      } finally {
        await gateway.stop();
      }
    }
    process.stdout.write(`${JSON.stringify(results)}\n`);
  } finally {
    await db.$disconnect();
    await stub.stop();
    await pg.drop();
  }
}

runBench("bench:gateway", main);
