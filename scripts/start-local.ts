import { existsSync } from "node:fs";
import { join } from "node:path";
import { ensureDemoModel } from "../dev/demo-model";
import { DEMO_MEMBER_ID, seedDemoData } from "../dev/demo-seed";
import { developmentAuth } from "../dev/dev-auth";
import { type SidecarProcess, startSidecar } from "../dev/sidecar-process";
import { loadConfig } from "../src/config";
import { startGateway } from "../src/gateway";
import { createLogger } from "../src/observability/logger";
import { exitOnSignals } from "../src/signals";

// `npm start`: the whole system on one machine. The demo model (dev/demo-model.ts: the trained one
// in models/demo, else random weights generated once, deterministically) unless MODEL_DIR names a
// checkpoint; a sidecar process unless
// INFERENCE_ADDRESSES names running ones; the embedded database unless DATABASE_URL is set;
// demo data in an empty database; Kafka only when KAFKA_BROKERS is set.

async function main() {
  if (existsSync(".env")) process.loadEnvFile(".env");
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL);
  const modelDir = config.MODEL_DIR ?? ensureDemoModel(config.DATA_DIR);

  let sidecar: SidecarProcess | null = null;
  /** Set once a signal asked everything to stop: the sidecar's exit is then expected. */
  let stopping = false;
  let addresses = config.INFERENCE_ADDRESSES;
  if (!addresses) {
    sidecar = await startSidecar({
      modelDir,
      listen: process.env.SIDECAR_LISTEN ?? "127.0.0.1:0",
      onLog: (line) => logger.info({ component: "sidecar" }, line),
    });
    addresses = [sidecar.address];
    sidecar.exited.then((code) => {
      if (!stopping) logger.error({ code }, "the sidecar exited; rankings are unavailable until it is back");
    });
  }

  const auth = await developmentAuth(config, process.env.IDE_EXAMPLE_MEMBER_ID ?? DEMO_MEMBER_ID);
  const gateway = await startGateway(
    loadConfig({
      IDE_EXAMPLE_MEMBER_ID: DEMO_MEMBER_ID,
      ...process.env,
      ...auth?.env,
      MODEL_DIR: modelDir,
      INFERENCE_ADDRESSES: addresses.join(","),
    }),
    logger,
    { ideTokens: auth?.tokens },
  );
  const seeded = await seedDemoData(gateway.db);
  if (seeded) {
    const { APPLY, VIEW, DISMISS } = seeded.outcomes;
    logger.info(
      `demo data written (a simulated marketplace, dev/marketplace.ts): ${seeded.members} members, ` +
        `${seeded.items} jobs, ${seeded.interactions} background interactions, ` +
        `${seeded.impressions} job_apply impressions (${seeded.shownPositions} shown jobs, each with its true probabilities) and ` +
        `${APPLY + VIEW + DISMISS} outcomes (${APPLY} applied, ${VIEW} viewed, ${DISMISS} dismissed)`,
    );
  }

  const base = gateway.url.replace(/\/graphql$/, "");
  const lines = [
    "",
    `  brewgate is up`,
    `  GraphQL      ${gateway.url}   (subscriptions: ${gateway.url.replace(/^http/, "ws")})`,
    `  IDE          ${base}/   playground ${base}/playground`,
    `  metrics      ${base}/metrics   health ${base}/healthz   ready ${base}/readyz`,
    `  model        ${modelDir}   sidecar ${addresses.join(", ")}`,
    `  database     ${config.DATABASE_URL ? "DATABASE_URL" : `embedded PGlite in ${join(config.DATA_DIR, "pglite")}`}`,
    `  kafka        ${config.KAFKA_BROKERS ? config.KAFKA_BROKERS.join(",") : "off (set KAFKA_BROKERS to consume)"}`,
    `  try          recommendations(memberId: "${DEMO_MEMBER_ID}", task: "job_apply")`,
    `  evaluate     npm run eval in another terminal, then ${base}/report`,
  ];
  if (auth) {
    lines.push(
      "",
      `  auth         required; development tokens (HS256, a week; the IDE sends the member's):`,
      `    member ${DEMO_MEMBER_ID}  ${auth.tokens.member}`,
      `    admin            ${auth.tokens.admin}`,
      `  e.g.         curl -H 'authorization: Bearer <token>' -H 'content-type: application/json' \\`,
      `                 -d '{"query":"{ tasks { name } }"}' ${gateway.url}`,
    );
  }
  if (gateway.modelDescription && !gateway.randomWeights) {
    lines.push("", `  The model is ${gateway.modelDescription}.`);
  }
  if (gateway.randomWeights) {
    lines.push(
      "",
      "  !! The model has RANDOM WEIGHTS: its rankings and explanations are meaningless.",
      "  !! Set MODEL_DIR to a Hugging Face checkpoint directory for real answers.",
    );
  }
  process.stdout.write(`${lines.join("\n")}\n\n`);

  exitOnSignals(logger, config.SHUTDOWN_TIMEOUT_MS, async () => {
    stopping = true;
    const report = await gateway.stop();
    await sidecar?.stop();
    return report.abandoned.length === 0;
  });
}

main().catch((err) => {
  process.stderr.write(
    `brewgate failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
