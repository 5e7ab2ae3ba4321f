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

/** Pins every thread of `pid` to `cpus` (a taskset list). */
export function pin(pid: number | undefined, cpus: string): void {
  execFileSync("taskset", ["-a", "-p", "-c", cpus, String(pid)], { stdio: "ignore" });
}
