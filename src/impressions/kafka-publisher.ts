import type { Config } from "../config";
import type { ImpressionPublisher } from "../domain/impression";
import { createKafka, ensureTopics } from "../kafka/client";
import { connectionFailure, kafkaConnection } from "../kafka/connection";
import { createManagedProducer, createSocketGate } from "../kafka/lifecycle";
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
  const connection = kafkaConnection(config);
  const gate = createSocketGate();
  const kafka = createKafka(connection, `${config.KAFKA_CLIENT_ID}-impressions`, logger, gate.factory);
  await ensureTopics(kafka, [config.KAFKA_TOPIC_IMPRESSIONS], config.KAFKA_TOPIC_PARTITIONS).catch(
    (err: Error) => {
      gate.close();
      throw connectionFailure(connection, "cannot create the impressions topic", err);
    },
  );
  const producer = createManagedProducer(kafka, gate, { idempotent: true, maxInFlightRequests: 1 });
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
    async stop() {
      const { abandonedSends } = await producer.stop();
      if (abandonedSends > 0)
        logger.warn({ abandonedSends }, "impression sends still retrying at stop were cut off");
    },
  };
}
