import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { Kafka, logLevel } from "kafkajs";
import { type Broker, startBroker } from "../dev/kafka-broker";
import { loadConfig } from "../src/config";
import { createDb } from "../src/db/client";
import { migrate } from "../src/db/migrate";
import { startIngestion } from "../src/ingest/consumer";
import { InteractionWriter } from "../src/ingest/interactions";
import { createLogger } from "../src/observability/logger";
import { createMetrics } from "../src/observability/metrics";
import { createTestDatabase, type TestDatabase } from "../test/support/postgres";
import { lateMember, plan } from "./plan";
import type { ProducerWork } from "./producer-worker";
import { runBench } from "./run";
import { percentile } from "./stats";

/**
 * Ingestion throughput, end to end: produces interaction events to a real broker (2% malformed,
 * 1% repeated, `--early` per hundred naming a member produced only `--late-ms` after the run
 * starts, so they are parked on the way), runs the gateway's Kafka ingestion against PostgreSQL,
 * and waits until every valid event is stored and every malformed one dead-lettered.
 *
 *   npm run bench:ingest [-- --events 200000 --partitions 6 --concurrency 6 --batch 5000]
 *
 * Uses KAFKA_BROKERS and DATABASE_URL when set; otherwise starts a broker and creates a fresh
 * database on the local PostgreSQL (both removed afterwards). The last output line is JSON.
 */

const { values } = parseArgs({
  options: {
    events: { type: "string", default: process.env.BENCH_EVENTS ?? "200000" },
    // Tuned on a 2-core machine: six partitions worked on at once, 5000 events per INSERT.
    partitions: { type: "string", default: process.env.KAFKA_TOPIC_PARTITIONS ?? "6" },
    batch: { type: "string", default: process.env.INGEST_MAX_BATCH ?? "5000" },
    concurrency: { type: "string", default: process.env.INGEST_CONCURRENCY ?? "6" },
    members: { type: "string", default: "1000" },
    items: { type: "string", default: "1000" },
    /** Per hundred events, how many name a member produced only `late-ms` after the run starts. */
    early: { type: "string", default: "5" },
    "late-ms": { type: "string", default: "1000" },
  },
});
const positive = (name: string, v: string | undefined) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got '${v}'`);
  return n;
};
const N = positive("events", values.events);
const PARTITIONS = positive("partitions", values.partitions);
const MEMBERS = positive("members", values.members);
const ITEMS = positive("items", values.items);
const EARLY = Number(values.early);
if (!Number.isInteger(EARLY) || EARLY < 0 || EARLY > 90)
  throw new Error(`--early must be 0 to 90, got '${values.early}'`);
const LATE_MS = Number(values["late-ms"]);
const STALL_MS = 60_000;

const log = (line: string) => process.stderr.write(`${line}\n`);

async function main() {
  const run = `bench${randomBytes(4).toString("hex")}`;
  const stops: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const stop of stops.reverse()) await stop().catch((err) => log(`cleanup: ${err}`));
  };
  process.once("SIGINT", () => void cleanup().then(() => process.exit(130)));
  try {
    let brokers = process.env.KAFKA_BROKERS?.split(",").filter(Boolean);
    if (!brokers?.length) {
      const dataDir = mkdtempSync(join(tmpdir(), "brewgate-bench-kafka-"));
      log("starting a Kafka broker (KAFKA_BROKERS unset)");
      const broker: Broker = await startBroker({ dataDir }).catch((err) => {
        rmSync(dataDir, { recursive: true, force: true });
        throw err;
      });
      stops.push(async () => {
        await broker.stop();
        rmSync(dataDir, { recursive: true, force: true });
      });
      brokers = broker.brokers;
    }
    let databaseUrl = process.env.DATABASE_URL;
    if (!databaseUrl) {
      log("creating a database on the local PostgreSQL (DATABASE_URL unset)");
      const pg: TestDatabase = await createTestDatabase();
      stops.push(() => pg.drop());
      databaseUrl = pg.url;
    } else {
      await migrate(databaseUrl);
    }

    const config = loadConfig({
      DATABASE_URL: databaseUrl,
      KAFKA_BROKERS: brokers.join(","),
      KAFKA_CLIENT_ID: run,
      KAFKA_GROUP_ID: `${run}-ingest`,
      KAFKA_TOPIC_INTERACTIONS: `${run}.interactions`,
      KAFKA_TOPIC_MEMBERS: `${run}.members`,
      KAFKA_TOPIC_ITEMS: `${run}.items`,
      KAFKA_TOPIC_DLQ: `${run}.dlq`,
      KAFKA_TOPIC_PARTITIONS: String(PARTITIONS),
      INGEST_MAX_BATCH: values.batch,
      INGEST_CONCURRENCY: values.concurrency,
      LOG_LEVEL: process.env.LOG_LEVEL ?? "warn",
    });
    const db = createDb(databaseUrl, { max: 10 });
    stops.push(() => db.$disconnect());
    await db.member.createMany({
      data: Array.from({ length: MEMBERS }, (_, i) => ({ id: `bm-${i}` })),
      skipDuplicates: true,
    });
    await db.item.createMany({
      data: Array.from({ length: ITEMS }, (_, i) => ({ id: `bi-${i}`, type: "JOB", title: `Job ${i}` })),
      skipDuplicates: true,
    });

    const logger = createLogger(config.LOG_LEVEL);
    const ingestion = await startIngestion({
      config,
      db,
      logger,
      metrics: createMetrics(),
      interactions: new InteractionWriter(db, [], (err) => logger.error({ err }, "listener failed")),
    });
    stops.push(() => ingestion.stop());
    await ingestion.joined;

    const p = plan({ run, events: N, members: MEMBERS, items: ITEMS, earlyPerHundred: EARLY });
    const kafka = new Kafka({ brokers, clientId: `${run}-bench`, logLevel: logLevel.WARN });
    const admin = kafka.admin();
    await admin.connect();
    stops.push(() => admin.disconnect());

    log(
      `producing ${N} events (${p.valid} valid, ${p.early.length} of them before their member, ${p.malformed} malformed, ${p.duplicates} repeated) to ${PARTITIONS} partitions`,
    );
    const work: ProducerWork = {
      run,
      events: N,
      members: MEMBERS,
      items: ITEMS,
      earlyPerHundred: EARLY,
      brokers,
      topic: config.KAFKA_TOPIC_INTERACTIONS,
      producedAt: new SharedArrayBuffer(N * Float64Array.BYTES_PER_ELEMENT),
    };
    const producedAt = new Float64Array(work.producedAt);
    const started = Date.now();
    const worker = new Worker(join(__dirname, "producer-worker.js"), { workerData: work });
    const producing = new Promise<void>((resolve, reject) => {
      worker.once("message", (m: { done?: true; error?: string }) => {
        if (m.error) reject(new Error(`producer failed: ${m.error}`));
        else {
          log(`produced in ${((Date.now() - started) / 1000).toFixed(1)} s`);
          resolve();
        }
      });
      worker.once("error", reject);
    });
    producing.catch(() => {});
    // The members of the early events, LATE_MS after the run began: their interactions wait
    // (parked) until then, or longer if they are read before the members.
    const lateMembers = (async () => {
      await new Promise((r) => setTimeout(r, LATE_MS));
      const producer = kafka.producer({ allowAutoTopicCreation: false });
      await producer.connect();
      try {
        for (let from = 0; from < p.early.length; from += 5000) {
          const ids = p.early.slice(from, from + 5000).map((i) => lateMember(run, i));
          await producer.send({
            topic: config.KAFKA_TOPIC_MEMBERS,
            acks: -1,
            messages: ids.map((id) => ({ key: id, value: JSON.stringify({ id }) })),
          });
        }
      } finally {
        await producer.disconnect();
      }
    })();
    lateMembers.catch(() => {});

    const storedCount = async () =>
      Number(
        (
          await db.$queryRaw<
            { n: bigint }[]
          >`SELECT count(*) AS n FROM "Interaction" WHERE "eventId" LIKE ${`${run}-%`}`
        )[0].n,
      );
    const deadLettered = async () =>
      (await admin.fetchTopicOffsets(config.KAFKA_TOPIC_DLQ)).reduce((sum, o) => sum + Number(o.high), 0);

    let stored = 0;
    let dead = 0;
    let lastProgress = Date.now();
    let lastReport = Date.now();
    for (;;) {
      const [s, d] = await Promise.all([storedCount(), deadLettered()]);
      if (s !== stored || d !== dead) lastProgress = Date.now();
      stored = s;
      dead = d;
      if (stored >= p.valid && dead >= p.malformed) break;
      if (Date.now() - lastProgress > STALL_MS) {
        log(`no progress for ${STALL_MS / 1000} s; reporting what arrived`);
        break;
      }
      if (Date.now() - lastReport > 5000) {
        lastReport = Date.now();
        log(`  ${((Date.now() - started) / 1000).toFixed(0)} s: stored ${stored}, dead-lettered ${dead}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const seconds = (Date.now() - started) / 1000;
    await producing;
    await lateMembers;

    // Latency from the produce timestamp to the row's receivedAt (the inserting transaction's time).
    const rows = await db.$queryRaw<{ eventId: string; receivedAt: Date }[]>`
      SELECT "eventId", "receivedAt" FROM "Interaction" WHERE "eventId" LIKE ${`${run}-%`}`;
    const latencies = rows.map(
      (r) => r.receivedAt.getTime() - producedAt[Number(r.eventId.slice(run.length + 1))],
    );
    latencies.sort((a, b) => a - b);
    const p99 = percentile(latencies, 0.99);
    const earlyIds = new Set(p.early.map((i) => `${run}-${i}`));
    const earlyLatencies = rows
      .filter((r) => earlyIds.has(r.eventId))
      .map((r) => r.receivedAt.getTime() - producedAt[Number(r.eventId.slice(run.length + 1))])
      .sort((a, b) => a - b);
    const [{ total, distinct }] = await db.$queryRaw<{ total: bigint; distinct: bigint }[]>`
      SELECT count(*) AS total, count(DISTINCT "eventId") AS distinct FROM "Interaction" WHERE "eventId" LIKE ${`${run}-%`}`;
    const expectedIds = p.kinds.flatMap((k, i) => (k === "valid" || k === "early" ? [`${run}-${i}`] : []));
    const [{ present }] = await db.$queryRaw<{ present: bigint }[]>`
      SELECT count(*) AS present FROM "Interaction" WHERE "eventId" = ANY(${expectedIds}::text[])`;

    const result = {
      events: N,
      seconds: Number(seconds.toFixed(2)),
      events_per_s: Math.round(N / seconds),
      p99_event_to_db_ms: p99,
      early_events: p.early.length,
      late_member_ms: LATE_MS,
      p99_early_event_to_db_ms: earlyLatencies.length > 0 ? percentile(earlyLatencies, 0.99) : null,
      stored: Number(total),
      dead_lettered: dead,
      lost: p.valid - Number(present),
      duplicated: Number(total) - Number(distinct),
    };
    await cleanup();
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } catch (err) {
    await cleanup();
    throw err;
  }
}

runBench("bench:ingest", main);
