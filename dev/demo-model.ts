import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { SIDECAR_DIR } from "./sidecar-process";

/** Shape of the demo model: small enough to answer quickly on a laptop CPU. */
const DEMO_MODEL_ARGS = [
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
 * The demo model's directory under `dataDir`: a checkpoint with random weights, generated once and
 * deterministically (the same weights on every machine) by the sidecar's generator.
 */
export function ensureDemoModel(dataDir: string): string {
  const dir = join(dataDir, "demo-model");
  if (!existsSync(join(dir, "config.json"))) {
    process.stdout.write(`generating the demo model (random weights) in ${dir}\n`);
    execFileSync(
      "/usr/bin/python3",
      [join(SIDECAR_DIR, "scripts", "gen_model.py"), ...DEMO_MODEL_ARGS, "--out", dir],
      { stdio: ["ignore", "inherit", "inherit"] },
    );
  }
  return dir;
}
