import { parseArgs } from "node:util";
import { Client } from "pg";
import { loadConfig } from "../src/config";
import { createDb, sql } from "../src/db/client";
import { OUTCOMES_SQL, outcomesOf } from "../src/db/outcomes";
import { ensureDefaultTasks } from "../src/db/tasks";
import { createTestDatabase } from "../test/support/postgres";
import { runBench } from "./run";
import { percentile, round } from "./stats";

/**
 * The outcome join (src/db/outcomes.ts) at production scale: a fresh database on the local
 * PostgreSQL gets `impressions` impressions of `positions` shown items each (Impression and
 * ImpressionItem rows, as insertImpressions writes them) and interactions of four kinds: some
 * name their impression, most fall in the attribution window of the latest impression that showed
 * the item, some come after the window, and some touch items the member was never shown. Then
 * outcomesOf is called as the `impression`/`impressions` queries call it, with batches of 1, 20
 * and 500 random impression ids, one after another on a warm cache: latency per query, and
 * positions joined per second.
 *
 *   npm run bench:outcomes [-- --impressions 1000000 --positions 5 --members 20000 --items 5000]
 *
 * Everything is generated server-side (INSERT ... SELECT over generate_series), the foreign-key
 * triggers off for the load (the data is consistent by construction), the indexes the migrations
 * made in place. The database is dropped at the end. The plan of one 500-id batch is printed
 * (EXPLAIN ANALYZE, BUFFERS); the last output line is JSON.
 */

const { values } = parseArgs({
  options: {
    impressions: { type: "string", default: "1000000" },
    // 5 positions: 5M ImpressionItem rows load in about a minute on a 2-core machine; 10 doubles it.
    positions: { type: "string", default: "5" },
    members: { type: "string", default: "20000" },
    items: { type: "string", default: "5000" },
    batches: { type: "string", default: "1,20,500" },
    seed: { type: "string", default: "1" },
  },
});
const positive = (name: string, v: string | undefined) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got '${v}'`);
  return n;
};
const N = positive("impressions", values.impressions);
const P = positive("positions", values.positions);
const MEMBERS = positive("members", values.members);
const ITEMS = positive("items", values.items);
const BATCHES = String(values.batches)
  .split(",")
  .map((b) => positive("batches", b));
if (P >= ITEMS) throw new Error("--positions must be below --items (an impression shows distinct items)");

/** The window the product uses unless configured otherwise. */
const WINDOW_MS = loadConfig({}).ATTRIBUTION_WINDOW_MS;
/** Impressions are spread evenly over this many days before T0. */
const SPAN_DAYS = 90;
const T0 = "2026-01-01 00:00:00";
/** Queries of one batch size: enough for a stable p99, a few seconds each. */
const queriesFor = (batch: number) => Math.min(2000, Math.max(200, Math.ceil(20_000 / batch)));

const log = (line: string) => process.stderr.write(`bench:outcomes ${line}\n`);
const out = (line = "") => process.stdout.write(`${line}\n`);

/** mulberry32: the same ids are drawn on every run with the same seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/*
 * The data, as functions of the impression's number g (0..N-1) and the position r (1..P):
 * - impression g: member bm-(g % MEMBERS), created at T0 - SPAN_DAYS + g * SPAN_DAYS / N, so each
 *   member's impressions are spread over the span;
 * - its positions show P consecutive items from a pseudo-random start: distinct within a list,
 *   and a member is shown some items again by later impressions (what "the latest impression
 *   wins" has to look past);
 * - per position, from a hash: 2% an interaction naming the impression (any time in 10 days),
 *   10% an unnamed one within the window (0 to 6 days after), 3% an unnamed one after the window
 *   (8 to 30 days after), 85% none; and N/4 more interactions with random items at random times.
 */
const SHOWN_AT = `(timestamp '${T0}' - interval '${SPAN_DAYS} days' + (g * (${SPAN_DAYS}::float8 * 86400000 / ${N})) * interval '1 millisecond')`;
const ITEM_AT = `('bi-' || ((abs(hashint8(g::bigint)) + r) % ${ITEMS}))`;
const FATE = `(abs(hashint8(g::bigint * 64 + r + 7)) % 1000)`;

async function load(url: string): Promise<{ impressions: number; positions: number; interactions: number }> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    const step = async (what: string, text: string) => {
      const started = performance.now();
      const r = await c.query(text);
      log(`  ${what}: ${r.rowCount ?? ""} rows in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    };
    // Bulk load: no foreign-key triggers (superuser only; without it the load is just slower).
    await c.query("SET session_replication_role = replica").catch((err) => {
      log(`foreign-key checks stay on (${(err as Error).message})`);
    });
    await c.query("SET synchronous_commit = off");
    await step(
      "members",
      `INSERT INTO "Member" ("id", "updatedAt") SELECT 'bm-' || m, now() FROM generate_series(0, ${MEMBERS - 1}) m`,
    );
    await step(
      "items",
      `INSERT INTO "Item" ("id", "type", "title", "updatedAt")
       SELECT 'bi-' || i, 'JOB', 'Job ' || i, now() FROM generate_series(0, ${ITEMS - 1}) i`,
    );
    await step(
      "impressions",
      `INSERT INTO "Impression" ("id", "requestId", "memberId", "taskName", "model", "promptVersion", "createdAt", "candidates")
       SELECT 'imp-' || g, 'req-' || g, 'bm-' || (g % ${MEMBERS}), 'job_apply', 'bench-model', 'bench-prompt', ${SHOWN_AT},
              (SELECT jsonb_agg(jsonb_build_object('itemId', ${ITEM_AT}, 'rank', r, 'score', 1.0 / (r + 1),
                        'probabilities', jsonb_build_object('APPLY', 1.0 / (r + 1), 'DISMISS', 1 - 1.0 / (r + 1)))
                      ORDER BY r)
               FROM generate_series(1, ${P}) r)
       FROM generate_series(0, ${N - 1}) g`,
    );
    await step(
      "impression positions",
      // From the candidates, as insertImpressions writes them: an impression's positions are
      // written together, so they share heap pages as they do in production.
      `INSERT INTO "ImpressionItem" ("impressionId", "rank", "itemId", "memberId", "createdAt")
       SELECT s."id", (c->>'rank')::int, c->>'itemId', s."memberId", s."createdAt"
       FROM "Impression" s, jsonb_array_elements(s."candidates") c`,
    );
    await step(
      "interactions with shown items",
      `INSERT INTO "Interaction" ("eventId", "memberId", "itemId", "action", "occurredAt", "impressionId")
       SELECT 'ev-' || g || '-' || r, 'bm-' || (g % ${MEMBERS}), ${ITEM_AT},
              CASE WHEN fate % 3 = 0 THEN 'APPLY' ELSE 'VIEW' END,
              ${SHOWN_AT} + CASE
                WHEN fate < 20 THEN fate * interval '12 hours'
                WHEN fate < 120 THEN (fate - 20) * interval '86 minutes'
                ELSE interval '8 days' + (fate - 120) * interval '18 hours' END,
              CASE WHEN fate < 20 THEN 'imp-' || g END
       FROM generate_series(0, ${N - 1}) g, generate_series(1, ${P}) r, LATERAL (SELECT ${FATE} AS fate) f
       WHERE fate < 150`,
    );
    await step(
      "other interactions",
      `INSERT INTO "Interaction" ("eventId", "memberId", "itemId", "action", "occurredAt")
       SELECT 'noise-' || k, 'bm-' || (abs(hashint8(k::bigint)) % ${MEMBERS}),
              'bi-' || (abs(hashint8(k::bigint + 1)) % ${ITEMS}), 'VIEW',
              timestamp '${T0}' - (abs(hashint8(k::bigint + 2)) % (${SPAN_DAYS}::bigint * 86400000)) * interval '1 millisecond'
       FROM generate_series(1, ${Math.ceil(N / 4)}) k`,
    );
    await step("analyze", "ANALYZE");
    const count = async (table: string) =>
      Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM "${table}"`)).rows[0].n);
    return {
      impressions: await count("Impression"),
      positions: await count("ImpressionItem"),
      interactions: await count("Interaction"),
    };
  } finally {
    await c.end();
  }
}

async function main() {
  log("creating a database on the local PostgreSQL");
  const pg = await createTestDatabase();
  process.once("SIGINT", () => void pg.drop().finally(() => process.exit(130)));
  const db = createDb(pg.url, { max: 2 });
  try {
    await ensureDefaultTasks(db);
    log(`loading ${N} impressions x ${P} positions (${MEMBERS} members, ${ITEMS} items)`);
    const loadStarted = performance.now();
    const counts = await load(pg.url);
    const loadSeconds = (performance.now() - loadStarted) / 1000;
    const [{ size }] = await sql<{ size: string }>(
      db,
      `SELECT pg_size_pretty(pg_database_size(current_database())) AS size`,
      [],
    );
    log(`loaded in ${loadSeconds.toFixed(0)} s; database ${size}`);

    const random = rng(Number(values.seed));
    const pick = (n: number) => {
      const ids = new Set<string>();
      while (ids.size < Math.min(n, N)) ids.add(`imp-${Math.floor(random() * N)}`);
      return [...ids];
    };
    // Warm the indexes the join reads, as a serving database would have them.
    for (let i = 0; i < 20; i++) await outcomesOf(db, pick(500), WINDOW_MS);

    const results: {
      batch: number;
      queries: number;
      p50_ms: number | null;
      p99_ms: number | null;
      rows_per_s: number;
      attributed: number;
    }[] = [];
    for (const batch of BATCHES) {
      const queries = queriesFor(batch);
      log(`batches of ${batch}: ${queries} queries`);
      const latencies: number[] = [];
      let rows = 0;
      let attributed = 0;
      let busy = 0;
      for (let q = 0; q < queries; q++) {
        const ids = pick(batch);
        const started = performance.now();
        const outcomes = await outcomesOf(db, ids, WINDOW_MS);
        const ms = performance.now() - started;
        busy += ms;
        latencies.push(ms);
        rows += outcomes.length;
        attributed += outcomes.filter((o) => o.attribution !== null).length;
      }
      latencies.sort((a, b) => a - b);
      results.push({
        batch,
        queries,
        p50_ms: round(percentile(latencies, 0.5), 3),
        p99_ms: round(percentile(latencies, 0.99), 3),
        rows_per_s: Math.round(rows / (busy / 1000)),
        attributed: round(attributed / rows, 3) ?? 0,
      });
    }

    /*
     * The plan PostgreSQL 15 makes for a 500-id batch (printed below; 1M impressions, 5M positions):
     * - Nested Loop Left Join, its outer side an Index Scan of ImpressionItem_pkey with
     *   "impressionId" = ANY($1): the batch's positions and no other rows, already in
     *   (impressionId, rank) order (a btree walks the sorted array), so there is no Sort. Had the
     *   planner preferred a Bitmap Index Scan of the same index (it does when an impression's
     *   positions are scattered over the heap), a Sort of the batch's rows would come on top:
     *   2,500 rows in memory, never the table;
     * - per position, Limit 1 over a Sort of that member's interactions with that item (a
     *   handful), read by an Index Scan of Interaction_memberId_itemId_occurredAt_idx on
     *   (memberId, itemId); named-or-in-the-window is a filter on those few rows (a Memoize
     *   node may wrap it; its key is unique per position, so it never hits, and costs little);
     * - inside that filter, the NOT EXISTS ("a later impression showed the item") is an Index
     *   Only Scan of ImpressionItem_memberId_itemId_createdAt_idx, run only for unnamed
     *   interactions within the window.
     * No sequential scan and no sort of a table: about 4 buffers per position, whatever the
     * tables' size, so the cost grows with the batch and not with the data.
     */
    const explained = await sql<{ "QUERY PLAN": string }>(db, `EXPLAIN (ANALYZE, BUFFERS) ${OUTCOMES_SQL}`, [
      pick(500),
      WINDOW_MS,
    ]);
    // The 500 ids, spelt out twice, would bury the plan.
    const plan = explained.map((r) =>
      r["QUERY PLAN"].replace(/'\{[^}]*\}'::text\[\]/g, "'{...500 ids}'::text[]"),
    );

    out();
    out(
      `outcomesOf on ${counts.impressions} impressions, ${counts.positions} positions, ${counts.interactions} interactions` +
        ` (window ${WINDOW_MS / 86_400_000} days; loaded in ${loadSeconds.toFixed(0)} s, database ${size})`,
    );
    out();
    const header = ["batch (ids)", "queries", "p50 ms", "p99 ms", "positions/s", "attributed"];
    const table = results.map((r) => [
      String(r.batch),
      String(r.queries),
      String(r.p50_ms),
      String(r.p99_ms),
      String(r.rows_per_s),
      `${(r.attributed * 100).toFixed(1)}%`,
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
    const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i])).join("  ");
    out(line(header));
    for (const row of table) out(line(row));
    out();
    out("EXPLAIN (ANALYZE, BUFFERS) of one batch of 500 ids:");
    for (const l of plan) out(`  ${l}`);
    const seqScans = plan.filter((l) => /Seq Scan/.test(l));
    out(seqScans.length === 0 ? "no sequential scan" : `SEQUENTIAL SCANS: ${seqScans.join(" | ")}`);
    out();
    out(
      JSON.stringify({
        impressions: counts.impressions,
        positions: counts.positions,
        interactions: counts.interactions,
        window_ms: WINDOW_MS,
        load_s: Math.round(loadSeconds),
        batches: results.map(({ batch, queries, p50_ms, p99_ms, rows_per_s }) => ({
          batch,
          queries,
          p50_ms,
          p99_ms,
          rows_per_s,
        })),
        seq_scans: seqScans.length,
      }),
    );
  } finally {
    await db.$disconnect();
    await pg.drop();
  }
}

runBench("bench:outcomes", main);
