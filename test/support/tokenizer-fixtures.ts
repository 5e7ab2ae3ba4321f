import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "./models";

const SCRIPTS = join(REPO_ROOT, "native", "cuda-server", "scripts");
const GENERATOR = join(SCRIPTS, "gen_sp_tokenizers.py");

/**
 * The folder of tokenizer.json fixtures of every family (SentencePiece BPE in its Llama 2 and
 * Metaspace forms, Unigram, WordPiece, byte-level with a prefix space, and one with merges across
 * line breaks), made by gen_sp_tokenizers.py (deterministic) and cached under .cache, keyed by
 * the generator's source as the test models are.
 */
export function tokenizerFixtures(): string {
  const hash = createHash("sha256")
    .update(readFileSync(GENERATOR))
    .update(readFileSync(join(SCRIPTS, "gen_tokenizer.py")))
    .digest("hex")
    .slice(0, 12);
  const dir = join(REPO_ROOT, ".cache", "test-tokenizers", hash);
  if (!existsSync(dir)) {
    const tmp = `${dir}.${process.pid}`;
    execFileSync("/usr/bin/python3", [GENERATOR, "--out-dir", tmp], {
      stdio: ["ignore", "ignore", "inherit"],
    });
    try {
      renameSync(tmp, dir);
    } catch (err) {
      // Another process made it first: theirs is the same.
      rmSync(tmp, { recursive: true, force: true });
      if (!existsSync(dir)) throw err;
    }
  }
  return dir;
}
