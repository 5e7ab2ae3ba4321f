import { parseArgs } from "node:util";
import { seedDemoData } from "../dev/demo-seed";
import { type SidecarProcess, startSidecar } from "../dev/sidecar-process";
import { createDb } from "../src/db/client";
import { startGatewayProcess } from "../test/support/gateway-process";
import { createTestDatabase } from "../test/support/postgres";
import { httpPoster } from "./http";
import { closedLoop } from "./load";
import { benchModel } from "./models";
import { runBench } from "./run";
import { percentile, round } from "./stats";

/**
 * Cache-aware routing against round robin, on the same run: two real sidecars (the demo model's
 * shape, one thread each), one gateway process, `requests` rankings of `candidates` items for
 * members drawn at random (one seeded sequence, the same for both policies) from `members`
 * demo members with `history` interactions each, prefixes cut at `prefix-tokens` (360Brew's
 * prompts are mostly history: a long prefix, short candidates), `concurrency` clients. Each
 * policy starts with fresh sidecars, so neither inherits the other's cache. `kv-mb` per sidecar
 * is set so that half the members' prefixes fit in one sidecar and all of them do not: the case
 * routing is for (a fleet's KV memory is smaller than its members' prefixes together). The demo
 * model's KV takes 4 KiB per token (fp32, 4 layers, 4 KV heads of 32), 400 MiB about 100,000
 * tokens: 48 prefixes of ~3,000 tokens need ~144,000, half of them ~72,000.
 *
 * Expected before measuring: affinity sends each member to one sidecar, so after its first
 * ranking a member's prefix is cached; round robin sends it to both, and each sidecar, holding
 * all members' prefixes, evicts them before they come back. Affinity should cache most of each
 * prompt (cached share well above round robin's) and so rank faster: more items/s, lower p99.
 *
 * Last line, JSON: per policy items_per_s, rankings_per_s, p50_ms, p99_ms, cached_share
 * (cachedTokens / promptTokens over the run), and affinity's ratios to round robin.
 */

const { values: args } = parseArgs({
  options: {
    requests: { type: "string", default: "300" },
    members: { type: "string", default: "48" },
    candidates: { type: "string", default: "10" },
    concurrency: { type: "string", default: "4" },
    "prefix-tokens": { type: "string", default: "3000" },
    history: { type: "string", default: "150" },
    "kv-mb": { type: "string", default: "400" },
    order: { type: "string", default: "round_robin,affinity" },
    seed: { type: "string", default: "7" },
  },
});
const REQUESTS = Number(args.requests);
const MEMBERS = Number(args.members);
const CANDIDATES = Number(args.candidates);
const CONCURRENCY = Number(args.concurrency);
const log = (msg: string) => process.stderr.write(`bench:routing ${msg}\n`);

/** mulberry32: the same member sequence for every policy. */
function sequence(seed: number, n: number, range: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * range);
  });
}

interface Answer {
  data?: { recommendations: { items: unknown[]; usage: { promptTokens: number; cachedTokens: number } } };
  errors?: unknown;
}

async function main() {
  const policies = String(args.order)
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean);
  for (const p of policies) {
    if (p !== "affinity" && p !== "round_robin")
      throw new Error(`--order takes affinity and round_robin, got '${p}'`);
  }
  const modelDir = benchModel("demo", log);
  const pg = await createTestDatabase();
  const db = createDb(pg.url, { max: 2 });
  const results: Record<string, unknown> = {
    requests: REQUESTS,
    members: MEMBERS,
    candidates: CANDIDATES,
    concurrency: CONCURRENCY,
    kv_mb_per_sidecar: Number(args["kv-mb"]),
  };
  try {
    log(`seeding ${MEMBERS} members`);
    await seedDemoData(db, {
      members: MEMBERS,
      items: 400,
      interactions: MEMBERS * Number(args.history),
      impressions: 0,
      shownPerImpression: 0,
    });
    const picks = sequence(Number(args.seed), REQUESTS, MEMBERS);
    const queries = Array.from({ length: MEMBERS }, (_, m) => {
      const ids = Array.from({ length: CANDIDATES }, (_, i) => `job-${((m * 37 + i * 7) % 400) + 1}`);
      return JSON.stringify({
        query: `{ recommendations(memberId: "member-${m + 1}", task: "job_apply", candidateIds: ${JSON.stringify(ids)}, first: ${CANDIDATES}) { items { itemId } usage { promptTokens cachedTokens } } }`,
      });
    });
    for (const policy of policies) {
      const sidecars: SidecarProcess[] = await Promise.all(
        [0, 1].map(() => startSidecar({ modelDir, threads: 1, kvBudgetMb: Number(args["kv-mb"]) })),
      );
      const gateway = await startGatewayProcess({
        DATABASE_URL: pg.url,
        MODEL_DIR: modelDir,
        INFERENCE_ADDRESSES: sidecars.map((s) => s.address).join(","),
        INFERENCE_ROUTING: policy,
        PROMPT_MAX_TOKENS: String(args["prefix-tokens"]),
        SCORE_TIMEOUT_MS: "120000",
        LOG_LEVEL: "warn",
        IDE_ENABLED: "false",
        GRAPHQL_MAX_MODEL_COST: "0",
      });
      try {
        const post = httpPoster(CONCURRENCY);
        let promptTokens = 0;
        let cachedTokens = 0;
        const rank = async (i: number) => {
          const body = JSON.parse(await post(gateway.url, queries[picks[i]])) as Answer;
          const r = body.data?.recommendations;
          if (!r || r.items.length !== CANDIDATES)
            throw new Error(`ranking failed: ${JSON.stringify(body).slice(0, 500)}`);
          promptTokens += r.usage.promptTokens;
          cachedTokens += r.usage.cachedTokens;
        };
        log(`${policy}: ${REQUESTS} rankings, ${CONCURRENCY} clients`);
        const started = performance.now();
        const latencies = (await closedLoop(REQUESTS, CONCURRENCY, rank)).map((x) => x.latencyMs);
        const seconds = (performance.now() - started) / 1000;
        latencies.sort((a, b) => a - b);
        results[policy] = {
          items_per_s: round((REQUESTS * CANDIDATES) / seconds),
          rankings_per_s: round(REQUESTS / seconds),
          p50_ms: round(percentile(latencies, 0.5)),
          p99_ms: round(percentile(latencies, 0.99)),
          cached_share: round(cachedTokens / Math.max(1, promptTokens), 3),
          prompt_tokens_per_ranking: Math.round(promptTokens / REQUESTS),
        };
        log(`${policy}: ${JSON.stringify(results[policy])}`);
      } finally {
        await gateway.stop();
        await Promise.all(sidecars.map((s) => s.stop()));
      }
    }
    const aff = results.affinity as Record<string, number> | undefined;
    const rr = results.round_robin as Record<string, number> | undefined;
    if (aff && rr) {
      results.affinity_items_per_s_ratio = round(aff.items_per_s / rr.items_per_s);
      results.affinity_p99_ratio = round(aff.p99_ms / rr.p99_ms);
    }
    process.stdout.write(`${JSON.stringify(results)}\n`);
  } finally {
    await db.$disconnect();
    await pg.drop();
  }
}

runBench("bench:routing", main);
