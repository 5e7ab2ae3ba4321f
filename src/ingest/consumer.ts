import { type EachBatchPayload, Partitioners } from "kafkajs";
import type { Config } from "../config";
import { INGEST_CONSUMER } from "../config/limits";
import type { Db } from "../db/client";
import { createKafka, ensureTopics } from "../kafka/client";
import { connectionFailure, kafkaConnection } from "../kafka/connection";
import { createManagedConsumer, createManagedProducer, createSocketGate } from "../kafka/lifecycle";
import type { Logger } from "../observability/logger";
import type { Metrics } from "../observability/metrics";
import { sendToDeadLetter } from "./dead-letter";
import { decodeMessages } from "./decode";
import type { InteractionWriter } from "./interactions";
import { Parking } from "./parking";
import { REPLAYED_FROM_HEADER } from "./replay";
import { interactionStore, itemStore, memberStore, type TopicStore } from "./store";

export interface IngestionOptions {
  config: Config;
  db: Db;
  logger: Logger;
  metrics: Metrics;
  /** Stores interactions and announces the new ones (the path the mutation takes too). */
  interactions: InteractionWriter;
}

export interface Ingestion {
  /** Resolves when the consumer has joined its group and has not crashed; throws with the reason otherwise. */
  ready(): Promise<void>;
  /** Resolves once the consumer has joined its group for the first time. */
  joined: Promise<void>;
  /** Finishes the batch in hand (stored, dead-lettered and committed), then leaves the group. */
  stop(): Promise<void>;
}

/**
 * Kafka ingestion: one consumer group over the member, item and interaction topics.
 *
 * Delivery is at least once and writes are idempotent, so nothing is lost and nothing is stored
 * twice: for every chunk of a fetched batch the events are written to the database, rejected
 * ones are produced to the dead-letter topic (acks -1), and only then is the chunk's offset
 * committed. Any failure before the commit (database down, dead-letter topic unreachable) throws
 * out of eachBatch; kafkajs retries and, after its retries, restarts the consumer from the last
 * committed offset, and the repeated events are skipped by event id (or upserted by id again).
 */
export async function startIngestion(options: IngestionOptions): Promise<Ingestion> {
  const { config, db, metrics } = options;
  const logger = options.logger.child({ component: "ingest" });
  const connection = kafkaConnection(config);
  const producerGate = createSocketGate();
  const producer = createManagedProducer(
    createKafka(connection, config.KAFKA_CLIENT_ID, logger, producerGate.factory),
    producerGate,
    { allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner },
  );
  const parking =
    config.INGEST_PARK_MAX_MS > 0
      ? new Parking({
          db,
          writer: options.interactions,
          deadLetter: (source, rejected) =>
            sendToDeadLetter(producer, config.KAFKA_TOPIC_DLQ, source, rejected),
          topic: config.KAFKA_TOPIC_INTERACTIONS,
          maxMs: config.INGEST_PARK_MAX_MS,
          logger,
          metrics,
        })
      : null;
  const kick = () => parking?.kick();
  const stores: Record<string, TopicStore> = {
    [config.KAFKA_TOPIC_MEMBERS]: memberStore(db, kick),
    [config.KAFKA_TOPIC_ITEMS]: itemStore(db, kick),
    [config.KAFKA_TOPIC_INTERACTIONS]: interactionStore(options.interactions, parking),
  };
  const topics = Object.keys(stores);
  if (topics.length !== 3 || topics.includes(config.KAFKA_TOPIC_DLQ)) {
    throw new Error(
      `Kafka topics must be four different names; got members '${config.KAFKA_TOPIC_MEMBERS}', items '${config.KAFKA_TOPIC_ITEMS}', interactions '${config.KAFKA_TOPIC_INTERACTIONS}', dead letters '${config.KAFKA_TOPIC_DLQ}'`,
    );
  }

  const kafka = createKafka(connection, config.KAFKA_CLIENT_ID, logger);
  const created = await ensureTopics(
    kafka,
    [...topics, config.KAFKA_TOPIC_DLQ],
    config.KAFKA_TOPIC_PARTITIONS,
  ).catch((err: Error) => {
    throw connectionFailure(connection, "cannot create the ingestion topics", err);
  });
  if (created.length > 0)
    logger.info({ topics: created, partitions: config.KAFKA_TOPIC_PARTITIONS }, "topics created");

  // One client (and socket gate) per kafkajs object: each is shut when that object has stopped,
  // after which nothing it left running (a retry, a lazy reconnect) can open a connection.
  const consumerGate = createSocketGate();
  let joinedOnce = false;
  let crash: Error | null = null;
  const managed = createManagedConsumer({
    kafka: createKafka(connection, config.KAFKA_CLIENT_ID, logger, consumerGate.factory),
    gate: consumerGate,
    logger,
    config: {
      groupId: config.KAFKA_GROUP_ID,
      allowAutoTopicCreation: false,
      // Wait a little for data so a busy topic arrives in large batches (one INSERT each).
      minBytes: 1,
      maxWaitTimeInMs: INGEST_CONSUMER.maxWaitTimeInMs,
      maxBytes: INGEST_CONSUMER.maxBytes,
      maxBytesPerPartition: INGEST_CONSUMER.maxBytesPerPartition,
      retry: { ...INGEST_CONSUMER.retry },
    },
    // A new group starts at the beginning: events produced before the first gateway started count too.
    subscription: { topics, fromBeginning: true },
    run: {
      // Offsets are committed by handleBatch, after the database and the dead-letter topic have the events.
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: config.INGEST_CONCURRENCY,
      eachBatch: (payload) => handleBatch(payload),
    },
    onCrash: (err, restarting) => {
      crash = err;
      logger.error(
        { err, restart: restarting },
        restarting ? "consumer crashed; restarting from the committed offsets" : "consumer crashed",
      );
    },
  });
  const consumer = managed.consumer;

  let resolveJoined: () => void = () => {};
  const joined = new Promise<void>((res) => {
    resolveJoined = res;
  });
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    joinedOnce = true;
    crash = null;
    resolveJoined();
    logger.info(
      { group: e.payload.groupId, assignment: e.payload.memberAssignment },
      "joined consumer group",
    );
  });
  const handleBatch = async (payload: EachBatchPayload) => {
    const { batch, resolveOffset, commitOffsetsIfNecessary, heartbeat, isRunning, isStale } = payload;
    const { topic, partition } = batch;
    const store = stores[topic];
    const max = config.INGEST_MAX_BATCH;
    for (let start = 0; start < batch.messages.length; start += max) {
      // Stopping or rebalancing: leave the rest uncommitted for whoever consumes next.
      if (!isRunning() || isStale()) return;
      const chunk = batch.messages.slice(start, start + max);
      const endTimer = metrics.ingestBatchSeconds.startTimer();
      const { valid, rejected } = decodeMessages(chunk, store.schema);
      const result = await store.store(valid, { topic, partition });
      const deadLetters = [...rejected, ...result.rejected];
      await sendToDeadLetter(producer, config.KAFKA_TOPIC_DLQ, { topic, partition }, deadLetters);

      const last = chunk[chunk.length - 1].offset;
      resolveOffset(last);
      await commitOffsetsIfNecessary({
        topics: [{ topic, partitions: [{ partition, offset: (BigInt(last) + 1n).toString() }] }],
      });
      endTimer();

      metrics.ingestEvents.inc({ topic, outcome: "stored" }, result.stored);
      metrics.ingestEvents.inc({ topic, outcome: "duplicate" }, result.duplicates);
      const replayed = chunk.filter((m) => m.headers?.[REPLAYED_FROM_HEADER] !== undefined).length;
      if (replayed > 0) metrics.ingestEvents.inc({ topic, outcome: "replayed" }, replayed);
      // (parked events are counted by Parking, released ones when they are stored)
      metrics.ingestEvents.inc({ topic, outcome: "dead_lettered" }, deadLetters.length);
      const lag = BigInt(batch.highWatermark) - (BigInt(last) + 1n);
      metrics.ingestLag.set({ topic, partition: String(partition) }, Number(lag > 0n ? lag : 0n));
      if (deadLetters.length > 0) {
        // One line per chunk: a flood of bad events must not slow ingestion down; each dead
        // letter carries its own reason in its headers.
        const first = deadLetters[0];
        logger.warn(
          { topic, partition, count: deadLetters.length, offset: first.message.offset, reason: first.reason },
          "events dead-lettered (first shown)",
        );
      }
      await heartbeat();
    }
  };

  const stop = async () => {
    // The consumer first: its stop finishes the batch in hand, which may still dead-letter.
    const consumerReport = await managed.stop();
    // Then the sweeps, which may still dead-letter through the producer.
    await parking?.stop();
    const { abandonedSends } = await producer.stop();
    const cutSockets = consumerGate.close();
    if (
      consumerReport.cutOffStart ||
      consumerReport.crashesAfterStop > 0 ||
      abandonedSends > 0 ||
      cutSockets > 0
    )
      logger.warn(
        { ...consumerReport, abandonedSends, cutSockets },
        "Kafka ingestion stopped with leftovers cut off",
      );
  };
  try {
    await producer.connect();
    await managed.start();
    parking?.start();
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }
  logger.info(
    { topics, group: config.KAFKA_GROUP_ID, dlq: config.KAFKA_TOPIC_DLQ },
    "Kafka ingestion started",
  );

  return {
    joined,
    async ready() {
      if (crash) throw new Error(`Kafka consumer crashed: ${(crash as Error).message}`);
      if (!joinedOnce) throw new Error(`Kafka consumer has not joined group '${config.KAFKA_GROUP_ID}' yet`);
    },
    stop,
  };
}
