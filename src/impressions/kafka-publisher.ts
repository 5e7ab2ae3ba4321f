import type { Config } from "../config";
import type { ImpressionPublisher } from "../domain/impression";
import { createKafka, ensureTopics } from "../kafka/client";
import type { Logger } from "../observability/logger";

export interface KafkaImpressionPublisher {
  publish: ImpressionPublisher;
  stop(): Promise<void>;
}

/**
 * Publishes served rankings to the impressions topic, keyed by member so one member's impressions
 * stay in order on one partition, acknowledged by all in-sync replicas. The impression log calls
 * it with each stored batch and retries a batch that fails.
 */
export async function startImpressionPublisher(
  config: Config,
  logger: Logger,
): Promise<KafkaImpressionPublisher> {
  if (!config.KAFKA_BROKERS) throw new Error("KAFKA_BROKERS is not set");
  const kafka = createKafka(config.KAFKA_BROKERS, `${config.KAFKA_CLIENT_ID}-impressions`, logger);
  await ensureTopics(kafka, [config.KAFKA_TOPIC_IMPRESSIONS], config.KAFKA_TOPIC_PARTITIONS);
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  return {
    async publish(impressions) {
      await producer.send({
        topic: config.KAFKA_TOPIC_IMPRESSIONS,
        acks: -1,
        messages: impressions.map((impression) => ({
          key: impression.memberId,
          value: JSON.stringify(impression),
          headers: { "x-request-id": impression.requestId },
        })),
      });
    },
    stop: () => producer.disconnect(),
  };
}
