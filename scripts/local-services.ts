import { connect } from "node:net";
import { join } from "node:path";
import { ensureDemoModel } from "../dev/demo-model";
import { type SidecarProcess, startSidecar } from "../dev/sidecar-process";
import type { Config } from "../src/config";
import { createDb, type Db } from "../src/db/client";
import { startEmbeddedDb } from "../src/db/embedded";
import { migrate } from "../src/db/migrate";
import { ensureDefaultTasks } from "../src/db/tasks";
import { InferenceClient } from "../src/inference/client";
import { readModelCard } from "../src/inference/model-card";
import { readInferenceTls } from "../src/inference/tls";
import type { ModelInfo } from "../src/inference/types";
import { TextTokenizer } from "../src/prompt/tokenizer";

// What the command-line tools (eval, export:training) open: the database `npm start` uses and a
// model to score with, found the way `npm start` finds them.

export interface OpenDatabase {
  db: Db;
  /** Where it is, for messages. */
  describe: string;
  close(): Promise<void>;
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * DATABASE_URL; else the embedded database of a running `npm start` (its port answers); else the
 * embedded database under DATA_DIR, opened here (PGlite lets one process hold it: with `npm start`
 * stopped). Migrated, with the built-in tasks, like the gateway's.
 */
export async function openDatabase(config: Config): Promise<OpenDatabase> {
  let url = config.DATABASE_URL;
  let describe = "DATABASE_URL";
  let stopEmbedded: (() => Promise<void>) | null = null;
  if (!url) {
    if (await portAnswers(config.EMBEDDED_DB_PORT)) {
      url = `postgresql://postgres@127.0.0.1:${config.EMBEDDED_DB_PORT}/postgres?sslmode=disable`;
      describe = `the running gateway's embedded database (port ${config.EMBEDDED_DB_PORT})`;
    } else {
      const embedded = await startEmbeddedDb(config.DATA_DIR, config.EMBEDDED_DB_PORT);
      url = embedded.url;
      stopEmbedded = () => embedded.stop();
      describe = `the embedded database in ${join(config.DATA_DIR, "pglite")}`;
    }
  }
  try {
    await migrate(url);
    // Two connections: a running gateway's embedded database serves at most
    // DATABASE.embeddedMaxConnections, four of them the gateway's; a batch job's queries are short
    // next to its Score calls.
    const db = createDb(url, { max: 2 });
    await ensureDefaultTasks(db);
    return {
      db,
      describe,
      async close() {
        await db.$disconnect();
        await stopEmbedded?.();
      },
    };
  } catch (err) {
    await stopEmbedded?.();
    throw err;
  }
}

export interface ModelChoice {
  /** A checkpoint directory: a sidecar is started on it here. */
  modelDir?: string;
  /** A running sidecar (host:port); the tokenizer comes from `tokenizer`, TOKENIZER_PATH or MODEL_DIR. */
  sidecar?: string;
  tokenizer?: string;
  /** Deadline of one Score call; offline work waits longer than a served ranking. */
  scoreTimeoutMs?: number;
}

export interface OpenModel {
  client: InferenceClient;
  tokenizer: TextTokenizer;
  info: ModelInfo;
  /** The checkpoint directory, when known here. */
  modelDir: string | null;
  randomWeights: boolean;
  /** What the model is, in words (its config.json's brewgate_description), when known here. */
  description: string | null;
  /** The prefix budget it was trained with (brewgate_prefix_tokens), when known here. */
  prefixTokens: number | null;
  describe: string;
  close(): Promise<void>;
}

/**
 * The model to score with: `--sidecar ADDR`, or a sidecar started here on `--model-dir DIR`; by
 * default INFERENCE_ADDRESSES when set, else a sidecar on MODEL_DIR or the demo model (what
 * `npm start` serves).
 */
export async function openModel(
  config: Config,
  choice: ModelChoice,
  log: (line: string) => void,
): Promise<OpenModel> {
  if (choice.modelDir && choice.sidecar) throw new Error("give --model-dir or --sidecar, not both");
  let addresses: string[] | null = choice.sidecar ? [choice.sidecar] : null;
  let modelDir: string | null = choice.modelDir ?? null;
  if (!addresses && !modelDir && config.INFERENCE_ADDRESSES) addresses = config.INFERENCE_ADDRESSES;
  if (!addresses && !modelDir) modelDir = config.MODEL_DIR ?? ensureDemoModel(config.DATA_DIR);
  // Running sidecars (--sidecar or INFERENCE_ADDRESSES): MODEL_DIR, when set, still names the
  // checkpoint they serve, for its tokenizer and its card (a trained model's prefix budget).
  if (addresses) modelDir = config.MODEL_DIR ?? null;

  const tokenizerPath =
    choice.tokenizer ??
    (choice.modelDir ? join(choice.modelDir, "tokenizer.json") : undefined) ??
    config.TOKENIZER_PATH ??
    (modelDir ? join(modelDir, "tokenizer.json") : undefined);
  if (!tokenizerPath) {
    throw new Error("no tokenizer: with --sidecar, give --tokenizer PATH or set TOKENIZER_PATH or MODEL_DIR");
  }
  const tokenizer = await TextTokenizer.fromFile(tokenizerPath);

  let sidecar: SidecarProcess | null = null;
  if (!addresses) {
    log(`starting a sidecar on ${modelDir}`);
    sidecar = await startSidecar({ modelDir: modelDir as string });
    addresses = [sidecar.address];
  }
  const client = new InferenceClient({
    addresses,
    scoreTimeoutMs: choice.scoreTimeoutMs ?? config.SCORE_TIMEOUT_MS,
    // A sidecar started here listens on loopback in plaintext; running ones get the gateway's TLS.
    tls: sidecar ? undefined : readInferenceTls(config),
  });
  const close = async () => {
    client.close();
    await sidecar?.stop();
  };
  try {
    const card = modelDir ? readModelCard(modelDir) : null;
    const info = await client.modelInfo();
    return {
      client,
      tokenizer,
      info,
      modelDir,
      randomWeights: card?.randomWeights ?? false,
      description: card?.description ?? null,
      prefixTokens: card?.prefixTokens ?? null,
      describe: `${info.modelId} (${sidecar ? `sidecar started on ${modelDir}` : `sidecar ${addresses.join(",")}`})`,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** How long a command asked to stop may take to close what it opened before it exits anyway. */
const STOP_DEADLINE_MS = 20_000;

/**
 * SIGINT or SIGTERM: `close` what the command opened (a sidecar it started, the database), then
 * exit with 130; past STOP_DEADLINE_MS it exits anyway, naming the deadline. A second signal
 * finds no handler and ends the process at once.
 */
export function stopOnSignals(log: (line: string) => void, close: () => Promise<void>): void {
  const onSignal = () => {
    log("stopping");
    setTimeout(() => {
      log(`still closing after ${STOP_DEADLINE_MS} ms; exiting`);
      process.exit(130);
    }, STOP_DEADLINE_MS).unref();
    close()
      .catch((err) => log(`while stopping: ${err instanceof Error ? err.message : String(err)}`))
      .finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
}
