import type Redis from "ioredis";
import {
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
} from "rate-limiter-flexible";
import { rateLimited } from "../domain/errors";
import type { Principal } from "./principal";

export interface RateLimitOptions {
  windowSeconds: number;
  /** Points per window of member principals (0: unlimited). */
  memberPoints: number;
  /**
   * Points per window of service and admin principals, and of each address calling without
   * credentials where authentication is optional (0: unlimited).
   */
  servicePoints: number;
  /** Shared counters across replicas; without it each replica counts alone. */
  redis?: Redis | null;
}

/**
 * Points per principal per window (a fixed window, as rate-limiter-flexible counts). With Redis,
 * every replica spends from the same counter; should Redis fail, each replica falls back to its
 * own in-memory counter for the moment (the insurance limiter) rather than refusing everyone or
 * letting everyone through.
 */
export class RateLimits {
  private readonly member: RateLimiterAbstract | null;
  private readonly service: RateLimiterAbstract | null;

  constructor(o: RateLimitOptions) {
    const make = (points: number, name: string): RateLimiterAbstract | null => {
      if (points === 0) return null;
      const base = { points, duration: o.windowSeconds, keyPrefix: `brewgate:rl:${name}` };
      if (!o.redis) return new RateLimiterMemory(base);
      return new RateLimiterRedis({
        ...base,
        storeClient: o.redis,
        insuranceLimiter: new RateLimiterMemory(base),
      });
    };
    this.member = make(o.memberPoints, "member");
    this.service = make(o.servicePoints, "service");
  }

  /** Spends `points` of the principal's window or throws RATE_LIMITED with the seconds to wait. */
  async consume(principal: Principal, points: number): Promise<void> {
    const limiter = principal.role === "member" ? this.member : this.service;
    if (!limiter) return;
    const cost = Math.max(1, Math.ceil(points));
    if (cost > limiter.points) {
      // It could never pass: refuse it without spending the window on it (the counter would
      // otherwise go over, and the caller's next, affordable operation be refused too).
      throw rateLimited(
        `this operation costs ${cost} points, more than the ${limiter.points} a window allows`,
        limiter.duration,
      );
    }
    try {
      await limiter.consume(principal.key, cost);
    } catch (res) {
      if (!(res instanceof RateLimiterRes)) throw res;
      const retryAfter = Math.max(1, Math.ceil(res.msBeforeNext / 1000));
      throw rateLimited(
        `rate limit reached: ${limiter.points} points per ${limiter.duration} s; retry in ${retryAfter} s`,
        retryAfter,
      );
    }
  }
}
