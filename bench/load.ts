import { execFileSync } from "node:child_process";
import { availableParallelism } from "node:os";

/**
 * Runs jobs 0..n-1 as `concurrency` clients, each sending its next job when the last one is
 * answered (after `gapMs`, when given); each job's latency as the client saw it, with what the
 * job resolved to, in the order answered.
 */
export async function closedLoop<T>(
  n: number,
  concurrency: number,
  job: (i: number) => Promise<T>,
  gapMs = 0,
): Promise<{ latencyMs: number; value: T }[]> {
  const samples: { latencyMs: number; value: T }[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < n; i = next++) {
        if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
        const t = performance.now();
        const value = await job(i);
        samples.push({ latencyMs: performance.now() - t, value });
      }
    }),
  );
  return samples;
}

/** The last core, and every other one ("0" on a single core): a bench's two sides. */
export function coreSplit(): { last: string; others: string } {
  const last = availableParallelism() - 1;
  return { last: String(last), others: last > 0 ? `0-${Math.max(0, last - 1)}` : "0" };
}

/**
 * Cores for a sidecar with `sidecarThreads` threads and `gateways` gateway processes: where there
 * are enough (threads + gateways + 1), the sidecar gets the last `sidecarThreads` cores, gateway i
 * core i, and the load generator (with PostgreSQL, wherever the OS puts it) the cores between.
 * Otherwise the sidecar gets the last core and everything else shares the others (`shared`).
 */
export function replicaCores(
  sidecarThreads: number,
  gateways: number,
): { sidecar: string; gateways: string[]; load: string; shared: boolean } {
  const cores = availableParallelism();
  const threads = Math.max(1, sidecarThreads);
  if (cores < threads + gateways + 1) {
    const { last, others } = coreSplit();
    return { sidecar: last, gateways: Array(gateways).fill(others), load: others, shared: true };
  }
  const range = (from: number, to: number) => (from === to ? String(from) : `${from}-${to}`);
  return {
    sidecar: range(cores - threads, cores - 1),
    gateways: Array.from({ length: gateways }, (_, i) => String(i)),
    load: range(gateways, cores - threads - 1),
    shared: false,
  };
}

/** Pins every thread of `pid` to `cpus` (a taskset list). */
export function pin(pid: number | undefined, cpus: string): void {
  execFileSync("taskset", ["-a", "-p", "-c", cpus, String(pid)], { stdio: "ignore" });
}
