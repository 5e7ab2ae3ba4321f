import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const REPO_ROOT = join(__dirname, "..", "..", "..");

const GENERATOR_DIR = join(REPO_ROOT, "native", "cuda-server", "scripts");

// Cached checkpoints are keyed by the generator's own source, so a changed generator never
// leaves tests on stale files.
const generatorHash = createHash("sha256")
  .update(readFileSync(join(GENERATOR_DIR, "gen_model.py")))
  .update(readFileSync(join(GENERATOR_DIR, "gen_tokenizer.py")))
  .digest("hex")
  .slice(0, 12);

/**
 * A random-weight checkpoint with its tokenizer, made by the sidecar's generator (deterministic
 * from the seed) and cached under .cache/test-models.
 */
export function testModel(arch = "llama", preset = "tiny", seed = 1): string {
  const dir = join(REPO_ROOT, ".cache", "test-models", generatorHash, `${arch}-${preset}-${seed}`);
  if (!existsSync(join(dir, "config.json"))) {
    execFileSync(
      "/usr/bin/python3",
      [
        join(GENERATOR_DIR, "gen_model.py"),
        "--arch",
        arch,
        "--preset",
        preset,
        "--seed",
        String(seed),
        "--out",
        dir,
      ],
      { stdio: ["ignore", "ignore", "inherit"] },
    );
  }
  return dir;
}
