import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { SIDECAR_DIR } from "./sidecar-process";

/**
 * The demo model, kept in the repository: a toy model trained by `npm run train:demo` on a
 * synthetic marketplace (dev/marketplace.ts, another seed than the demo data it is judged on).
 */
export const DEMO_MODEL_DIR = resolve(__dirname, "..", "..", "models", "demo");

/** Shape of the stand-in with random weights: small enough to answer quickly on a laptop CPU. */
const RANDOM_MODEL_ARGS = [
  "--arch",
  "llama",
  "--preset",
  "tiny",
  "--seed",
  "7",
  "--hidden",
  "256",
  "--layers",
  "4",
].concat(["--heads", "8", "--kv-heads", "4", "--intermediate", "768", "--vocab", "4096"]);

/**
 * The model `npm start` and the command-line tools serve when no MODEL_DIR is given: the trained
 * demo model; when a checkout lacks it, a checkpoint with random weights generated once under
 * `dataDir`, deterministically, by the sidecar's generator (its banner says so).
 */
export function ensureDemoModel(dataDir: string): string {
  if (existsSync(join(DEMO_MODEL_DIR, "config.json"))) return DEMO_MODEL_DIR;
  const dir = join(dataDir, "demo-model");
  if (!existsSync(join(dir, "config.json"))) {
    process.stdout.write(
      `no trained demo model in ${DEMO_MODEL_DIR} (npm run train:demo writes it): generating one with random weights in ${dir}\n`,
    );
    execFileSync(
      "/usr/bin/python3",
      [join(SIDECAR_DIR, "scripts", "gen_model.py"), ...RANDOM_MODEL_ARGS, "--out", dir],
      { stdio: ["ignore", "inherit", "inherit"] },
    );
  }
  return dir;
}
