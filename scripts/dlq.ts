import { existsSync } from "node:fs";
import { loadConfig } from "../src/config";
import { readDeadLetters, replayDeadLetters } from "../src/ingest/replay";
import { createKafka } from "../src/kafka/client";
import { kafkaConnection } from "../src/kafka/connection";
import { createLogger } from "../src/observability/logger";
import { isoTime, parseFlags, runCommand, UsageError } from "./cli";
import { openDatabase } from "./local-services";

const USAGE = `Usage: npm run dlq -- list   [--reason TEXT] [--since TIME]
       npm run dlq -- replay [--reason TEXT] [--since TIME]

The dead-letter topic (KAFKA_TOPIC_DLQ on KAFKA_BROKERS, reached as the gateway reaches it:
KAFKA_SECURITY_PROTOCOL, KAFKA_SSL_*, KAFKA_SASL_*). list prints each letter: where it is,
when its event was produced, its source topic, key and reason. replay re-publishes the matching
letters to their source topics with their original key, value, timestamp and headers, and records
them (in DATABASE_URL's database, else npm start's): replaying again skips them.
  --reason  only letters whose reason contains TEXT (e.g. "unknown member")
  --since   only letters whose event was produced at or after TIME (ISO 8601)`;

if (existsSync(".env")) process.loadEnvFile(".env");

runCommand("dlq", USAGE, async () => {
  const [command, ...rest] = process.argv.slice(2);
  const flags = parseFlags(
    rest,
    { help: { type: "boolean" }, reason: { type: "string" }, since: { type: "string" } },
    USAGE,
  );
  if (command !== "list" && command !== "replay") {
    throw new UsageError(`expected a command: list or replay; got '${command ?? ""}'`);
  }
  const config = loadConfig();
  const kafka = createKafka(
    kafkaConnection(config),
    `${config.KAFKA_CLIENT_ID}-dlq`,
    createLogger("warn", 2),
  );
  const letters = await readDeadLetters(kafka, config.KAFKA_TOPIC_DLQ, {
    reason: flags.reason,
    since: isoTime("since", flags.since),
  });
  if (command === "list") {
    for (const l of letters) {
      process.stdout.write(
        `${l.partition}:${l.offset}\t${l.at.toISOString()}\t${l.sourceTopic || "-"}\t${l.key ?? "-"}\t${l.reason}\n`,
      );
    }
    process.stderr.write(`${letters.length} dead letters in ${config.KAFKA_TOPIC_DLQ}\n`);
    return;
  }
  const database = await openDatabase(config);
  try {
    const r = await replayDeadLetters(kafka, database.db, config.KAFKA_TOPIC_DLQ, letters);
    process.stdout.write(`${JSON.stringify({ matched: letters.length, ...r })}\n`);
  } finally {
    await database.close();
  }
});
