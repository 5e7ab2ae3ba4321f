import { type ISocketFactory, Kafka, type LogEntry, logLevel } from "kafkajs";
import type { Logger } from "../observability/logger";
import type { KafkaConnection } from "./connection";

/**
 * kafkajs client on `connection` (brokers, TLS, SASL: ./connection) whose log lines go through
 * the gateway's pino logger. Clients that must not outlive their stop() pass a SocketGate's
 * factory (see ./lifecycle); it opens TLS sockets with the connection's options.
 */
export function createKafka(
  connection: KafkaConnection,
  clientId: string,
  logger: Logger,
  socketFactory?: ISocketFactory,
): Kafka {
  const log = logger.child({ component: "kafka" });
  return new Kafka({
    brokers: connection.brokers,
    ...(connection.ssl ? { ssl: connection.ssl } : {}),
    ...(connection.sasl ? { sasl: connection.sasl } : {}),
    clientId,
    ...(socketFactory ? { socketFactory } : {}),
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log: entry }: LogEntry) => {
        const { message, ...fields } = entry;
        if (level === logLevel.ERROR) log.error(fields, message);
        else if (level === logLevel.WARN) log.warn(fields, message);
        else if (level === logLevel.INFO) log.info(fields, message);
        else log.debug(fields, message);
      },
  });
}

/**
 * Creates the topics that do not exist yet. Existing topics are left as they are (their
 * partition count included), so every gateway replica can call this on start.
 */
export async function ensureTopics(kafka: Kafka, topics: string[], partitions: number): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = [...new Set(topics)].filter((t) => !existing.has(t));
    if (missing.length > 0) {
      await admin.createTopics({
        topics: missing.map((topic) => ({ topic, numPartitions: partitions })),
        waitForLeaders: true,
      });
    }
    return missing;
  } finally {
    await admin.disconnect();
  }
}
