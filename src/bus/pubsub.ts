import { createRedisEventTarget } from "@graphql-yoga/redis-event-target";
import { createPubSub, type PubSub } from "@graphql-yoga/subscription";
import { Redis } from "ioredis";

/** Published when interactions of a member were stored (by a mutation or by Kafka ingestion). */
export interface InteractionsStored {
  memberId: string;
  eventIds: string[];
}

export type GatewayPubSub = PubSub<{
  "member.interactions": [memberId: string, payload: InteractionsStored];
}>;

export interface PubSubHandle {
  pubSub: GatewayPubSub;
  /** Readiness: throws when the shared bus (Redis) does not answer. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * In-process events, or Redis pub/sub when REDIS_URL is set so that a subscriber on any gateway
 * replica hears about an interaction stored by any other.
 */
export function createGatewayPubSub(redisUrl?: string): PubSubHandle {
  if (!redisUrl) {
    return {
      pubSub: createPubSub() as GatewayPubSub,
      ping: async () => undefined,
      close: async () => undefined,
    };
  }
  const publishClient = new Redis(redisUrl, { lazyConnect: false, maxRetriesPerRequest: 3 });
  const subscribeClient = new Redis(redisUrl, { lazyConnect: false, maxRetriesPerRequest: 3 });
  const eventTarget = createRedisEventTarget({ publishClient, subscribeClient });
  return {
    pubSub: createPubSub({ eventTarget }) as GatewayPubSub,
    async ping() {
      await publishClient.ping();
    },
    async close() {
      await Promise.all([publishClient.quit(), subscribeClient.quit()]);
    },
  };
}

/** Announces stored interactions, one event per member. */
export function publishInteractions(
  pubSub: GatewayPubSub,
  events: { memberId: string; eventId: string }[],
): void {
  const byMember = new Map<string, string[]>();
  for (const e of events) byMember.set(e.memberId, [...(byMember.get(e.memberId) ?? []), e.eventId]);
  for (const [memberId, eventIds] of byMember)
    pubSub.publish("member.interactions", memberId, { memberId, eventIds });
}
