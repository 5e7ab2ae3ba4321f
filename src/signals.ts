import { SHUTDOWN_EXIT_MARGIN_MS } from "./config/limits";
import type { Logger } from "./observability/logger";

/**
 * On SIGTERM or SIGINT, runs `stop` once and exits: 0 when it reports a clean stop, 1 when it
 * failed or abandoned parts. Whatever a dependency does (a client that never settles, a timer
 * re-armed forever), the process exits `timeoutMs` plus a margin after the signal; a second
 * signal exits at once.
 */
export function exitOnSignals(logger: Logger, timeoutMs: number, stop: () => Promise<boolean>): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, "second signal while shutting down: exiting now");
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal, timeoutMs }, "shutting down");
    const force = setTimeout(() => {
      logger.error(
        { timeoutMs, active: process.getActiveResourcesInfo() },
        "shutdown did not return in time: exiting anyway (`active`: what still held the process)",
      );
      process.exit(1);
    }, timeoutMs + SHUTDOWN_EXIT_MARGIN_MS);
    force.unref();
    stop().then(
      (clean) => {
        logger.info({ clean }, "stopped");
        process.exit(clean ? 0 : 1);
      },
      (err) => {
        logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}
