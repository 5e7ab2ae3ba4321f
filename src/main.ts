import { existsSync } from "node:fs";
import { loadConfig } from "./config";
import { startGateway } from "./gateway";
import { createLogger } from "./observability/logger";
import { exitOnSignals } from "./signals";

async function main() {
  if (existsSync(".env")) process.loadEnvFile(".env");
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL);
  const gateway = await startGateway(config, logger);
  logger.info({ url: gateway.url }, "gateway ready");
  process.stdout.write(`\nbrewgate GraphQL: ${gateway.url}\n\n`);
  exitOnSignals(
    logger,
    config.SHUTDOWN_TIMEOUT_MS,
    async () => (await gateway.stop()).abandoned.length === 0,
  );
}

main().catch((err) => {
  process.stderr.write(
    `brewgate failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
