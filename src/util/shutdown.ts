import { within } from "./within";

/** One part to stop, named for the log. */
export interface StopStep {
  name: string;
  stop: () => Promise<void>;
}

export interface ShutdownReport {
  /** Steps that finished (a step that failed is in `failed` too). */
  stopped: string[];
  failed: { name: string; err: unknown }[];
  /** Steps still running at the deadline, and steps never started because of it. */
  abandoned: string[];
}

/**
 * Stops parts in the reverse order they were started, one after the other (the HTTP server
 * drains before the impression log flushes, which flushes before the database closes), within
 * one deadline for all of them. A step that fails is reported and the next one runs; a step
 * that hangs past the deadline is abandoned with everything after it, and reported, so that the
 * caller can exit: a process asked to stop always stops.
 */
export class Shutdown {
  private readonly steps: StopStep[] = [];
  private running: Promise<ShutdownReport> | null = null;

  add(name: string, stop: () => Promise<void>): void {
    this.steps.push({ name, stop });
  }

  /** Runs once; later calls get the same report. */
  run(deadlineMs: number): Promise<ShutdownReport> {
    this.running ??= this.runSteps(deadlineMs);
    return this.running;
  }

  private async runSteps(deadlineMs: number): Promise<ShutdownReport> {
    const report: ShutdownReport = { stopped: [], failed: [], abandoned: [] };
    const deadline = Date.now() + deadlineMs;
    const steps = [...this.steps].reverse();
    for (const [i, step] of steps.entries()) {
      const left = deadline - Date.now();
      const attempt = left > 0 ? step.stop() : null;
      attempt?.catch((err) => report.failed.push({ name: step.name, err }));
      if (!attempt || !(await within(attempt, left))) {
        report.abandoned.push(...steps.slice(i).map((s) => s.name));
        break;
      }
      report.stopped.push(step.name);
    }
    return report;
  }
}
