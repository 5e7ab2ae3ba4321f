import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

export const REPO_ROOT = join(__dirname, "..", "..", "..");

/**
 * A random-weight checkpoint with its tokenizer, made by the sidecar's generator (deterministic
 * from the seed) and cached under .cache/test-models.
 */
export function testModel(arch = "llama", preset = "tiny", seed = 1): string {
  const dir = join(REPO_ROOT, ".cache", "test-models", `${arch}-${preset}-${seed}`);
  if (!existsSync(join(dir, "config.json"))) {
    execFileSync(
      "/usr/bin/python3",
      [
        join(REPO_ROOT, "native", "cuda-server", "scripts", "gen_model.py"),
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
