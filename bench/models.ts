import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { SIDECAR_DIR } from "../dev/sidecar-process";

/** Random-weight Llama shapes the benchmarks run; all share the demo model's tokenizer. */
const MODEL_SHAPES: Record<string, string[]> = {
  // Same shape as the demo model of `npm start`.
  demo: ["--hidden", "256", "--layers", "4", "--heads", "8", "--kv-heads", "4", "--intermediate", "768"],
  small: ["--hidden", "64", "--layers", "2", "--heads", "4", "--kv-heads", "2", "--intermediate", "192"],
};

/** The checkpoint directory of a named shape, generated (deterministically) on first use. */
export function benchModel(name: string, log: (msg: string) => void): string {
  const shape = MODEL_SHAPES[name];
  if (!shape)
    throw new Error(`--model must be one of ${Object.keys(MODEL_SHAPES).join(", ")}, got '${name}'`);
  const dir = join(
    __dirname,
    "..",
    "..",
    ".cache",
    "bench-models",
    name === "demo" ? "llama-demo" : `llama-${name}`,
  );
  if (!existsSync(join(dir, "config.json"))) {
    log(`generating the model in ${dir}`);
    execFileSync(
      "/usr/bin/python3",
      [join(SIDECAR_DIR, "scripts", "gen_model.py"), "--arch", "llama", "--preset", "tiny", "--seed", "7"]
        .concat(shape)
        .concat(["--vocab", "4096", "--out", dir]),
      { stdio: ["ignore", "ignore", "inherit"] },
    );
  }
  return dir;
}
