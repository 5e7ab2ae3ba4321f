import { existsSync } from "node:fs";
import { loadConfig } from "./config";
import { startGateway } from "./gateway";
import { createLogger } from "./observability/logger";

async function main() {
  if (existsSync(".env")) process.loadEnvFile(".env");
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL);
  const gateway = await startGateway(config, logger);
  logger.info({ url: gateway.url }, "gateway ready");
  process.stdout.write(`\nbrewgate GraphQL: ${gateway.url}\n\n`);

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    gateway.stop().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

main().catch((err) => {
  process.stderr.write(
    `brewgate failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
