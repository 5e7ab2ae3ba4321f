import { createHash } from "node:crypto";

/**
 * Which sidecar serves a call. A sidecar keeps the KV cache of the prompt prefixes it served
 * last, and a member's prefix (profile, history, task) is the same across that member's rankings,
 * so sending a member's calls to the same sidecar turns most of their prefill into cache hits.
 *
 * `affinity` is consistent hashing with bounded loads (Mirrokni, Thorup and Zadimoghaddam,
 * "Consistent Hashing with Bounded Loads", 2018): each key walks a hash ring from its point and
 * takes the first sidecar that is up and carries fewer than `loadFactor` times the average number
 * of calls in flight. A sidecar joining or leaving moves only the keys next to it on the ring;
 * a hot key spills to the next sidecar rather than queueing behind itself. `round_robin` ignores
 * the key (the baseline the benchmark compares against).
 */
export type RoutingPolicy = "affinity" | "round_robin";

/** What routing needs to know of one sidecar. */
export interface RouteTarget {
  readonly address: string;
  /** Calls sent to it and not yet finished. */
  inFlight: number;
  /** Skipped until this time (ms since the epoch) after a call found it unavailable. */
  downUntil: number;
}

/** Ring points per sidecar: enough that two sidecars split keys within a few percent. */
const VIRTUAL_NODES = 160;

function point(text: string): number {
  return createHash("sha256").update(text).digest().readUInt32BE(0);
}

/** The sidecars' points on a 32-bit ring. */
export class HashRing {
  private readonly points: { at: number; address: string }[];
  private readonly distinct: number;

  constructor(addresses: readonly string[], virtualNodes = VIRTUAL_NODES) {
    const unique = [...new Set(addresses)];
    this.distinct = unique.length;
    this.points = unique
      .flatMap((address) =>
        Array.from({ length: virtualNodes }, (_, i) => ({ at: point(`${address}#${i}`), address })),
      )
      .sort((a, b) => a.at - b.at || (a.address < b.address ? -1 : 1));
  }

  /** Every sidecar once, in the order `key` meets them walking the ring from its point. */
  walk(key: string): string[] {
    if (this.points.length === 0) return [];
    const at = point(key);
    let lo = 0;
    let hi = this.points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.points[mid].at < at) lo = mid + 1;
      else hi = mid;
    }
    const order: string[] = [];
    const seen = new Set<string>();
    for (let i = 0; i < this.points.length && order.length < this.distinct; i++) {
      const { address } = this.points[(lo + i) % this.points.length];
      if (!seen.has(address)) {
        seen.add(address);
        order.push(address);
      }
    }
    return order;
  }
}

/**
 * The most calls one sidecar may carry when a new one arrives: `loadFactor` times the average
 * over the sidecars that are up, the new call included, rounded up (never below 1).
 */
export function loadBound(totalInFlight: number, up: number, loadFactor: number): number {
  return Math.max(1, Math.ceil((loadFactor * (totalInFlight + 1)) / Math.max(1, up)));
}

/**
 * Picks the sidecar for a call with `key` (affinity) among `targets`, skipping `exclude` (the ones
 * this call already tried). A sidecar marked down is taken only when every other one is down too
 * (it may be back; the call fails over again if not). Returns null when nothing is left to try.
 */
export function pickTarget<T extends RouteTarget>(
  targets: readonly T[],
  order: readonly string[],
  exclude: ReadonlySet<string>,
  now: number,
  loadFactor: number,
): T | null {
  const byAddress = new Map(targets.map((t) => [t.address, t]));
  const candidates = order
    .map((a) => byAddress.get(a))
    .filter((t): t is T => t !== undefined && !exclude.has(t.address));
  if (candidates.length === 0) return null;
  const up = candidates.filter((t) => t.downUntil <= now);
  if (up.length === 0) return candidates.reduce((a, b) => (b.downUntil < a.downUntil ? b : a));
  const total = targets.reduce((n, t) => n + t.inFlight, 0);
  const bound = loadBound(total, targets.filter((t) => t.downUntil <= now).length, loadFactor);
  return up.find((t) => t.inFlight < bound) ?? up.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
}
