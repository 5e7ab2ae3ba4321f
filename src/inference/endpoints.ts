import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { HashRing, type RouteTarget } from "./routing";

/** One sidecar: its own channel, and what routing tracks of it. */
export interface Endpoint<S> extends RouteTarget {
  readonly stub: S;
  /** Unavailable answers in a row; sets how long it is skipped. */
  failures: number;
}

export interface EndpointPoolOptions<S> {
  /**
   * host:port entries. An IP literal is one sidecar. A name is resolved again every
   * `resolveIntervalMs` and stands for every address it resolves to (a Kubernetes headless
   * Service resolves to one address per ready pod).
   */
  addresses: string[];
  /** A channel to `address` (ip:port); `hostName` is the name it was resolved from, if any. */
  connect(address: string, hostName: string | undefined): S;
  close(stub: S): void;
  resolveIntervalMs: number;
  /** How long a removed sidecar's channel stays open for the calls still on it. */
  closeDelayMs: number;
  /** Every change of the set of sidecars (and the first resolution). */
  onChange?(addresses: string[]): void;
  onResolveError?(host: string, err: Error): void;
  /** @default getaddrinfo through node:dns lookup */
  resolve?(host: string): Promise<string[]>;
}

/** A sidecar address, and the name it was resolved from. */
interface Found {
  address: string;
  host: string | undefined;
}

interface Entry {
  host: string;
  port: string;
}

/** Splits host:port, [v6]:port and v6 literals written without brackets are refused. */
export function parseAddress(address: string): Entry {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:[\]]+):(\d+)$/.exec(address);
  if (!m) throw new Error(`sidecar address '${address}' is not host:port (IPv6 as [addr]:port)`);
  return { host: m[1], port: m[2] };
}

const join = (ip: string, port: string) => (isIP(ip) === 6 ? `[${ip}]:${port}` : `${ip}:${port}`);

/** IPv4 addresses when there are any (dual-stack names list each pod twice), else IPv6. */
async function resolveHost(host: string): Promise<string[]> {
  const all = await lookup(host, { all: true });
  const v4 = all.filter((a) => a.family === 4).map((a) => a.address);
  return [...new Set(v4.length > 0 ? v4 : all.map((a) => a.address))].sort();
}

/** The sidecars the gateway can call, kept in step with DNS. */
export class EndpointPool<S> {
  private endpoints = new Map<string, Endpoint<S>>();
  private hostOf = new Map<string, string | undefined>();
  private ringCache: HashRing = new HashRing([]);
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private resolvedOnce = false;
  /** Resolves after the first resolution (at once when every entry is an IP literal). */
  readonly ready: Promise<void>;

  constructor(private readonly o: EndpointPoolOptions<S>) {
    const entries = o.addresses.map(parseAddress);
    const named = entries.filter((e) => isIP(e.host) === 0);
    const fixed: Found[] = entries
      .filter((e) => isIP(e.host) !== 0)
      .map((e) => ({ address: join(e.host, e.port), host: undefined }));
    const refresh = async () => {
      const found = [...fixed];
      for (const e of named) {
        try {
          const ips = await (o.resolve ?? resolveHost)(e.host);
          for (const ip of ips) found.push({ address: join(ip, e.port), host: e.host });
        } catch (err) {
          o.onResolveError?.(e.host, err as Error);
          // Keep what this name resolved to before: a DNS hiccup is no reason to drop sidecars.
          for (const [address, host] of this.hostOf) if (host === e.host) found.push({ address, host });
        }
      }
      this.update(found);
    };
    this.ready = refresh();
    if (named.length > 0) {
      const tick = () => {
        this.timer = setTimeout(async () => {
          await refresh();
          if (!this.closed) tick();
        }, o.resolveIntervalMs);
        this.timer.unref();
      };
      this.ready.then(tick);
    }
  }

  private update(found: Found[]): void {
    if (this.closed) return;
    const next = new Map(found.map((f) => [f.address, f.host]));
    const same = next.size === this.hostOf.size && [...next.keys()].every((a) => this.hostOf.has(a));
    if (same && this.resolvedOnce) return;
    this.resolvedOnce = true;
    for (const [address, endpoint] of this.endpoints) {
      if (next.has(address)) continue;
      this.endpoints.delete(address);
      setTimeout(() => this.o.close(endpoint.stub), this.o.closeDelayMs).unref();
    }
    for (const [address, host] of next) {
      if (this.endpoints.has(address)) continue;
      this.endpoints.set(address, {
        address,
        stub: this.o.connect(address, host),
        inFlight: 0,
        downUntil: 0,
        failures: 0,
      });
    }
    this.hostOf = next;
    this.ringCache = new HashRing([...this.endpoints.keys()]);
    this.o.onChange?.([...this.endpoints.keys()]);
  }

  list(): Endpoint<S>[] {
    return [...this.endpoints.values()];
  }

  get ring(): HashRing {
    return this.ringCache;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    for (const endpoint of this.endpoints.values()) this.o.close(endpoint.stub);
    this.endpoints.clear();
  }
}
