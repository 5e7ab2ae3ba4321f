import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";

export const SIDECAR_DIR = join(__dirname, "..", "..", "native", "cuda-server");
export const SIDECAR_BINARY = join(SIDECAR_DIR, "build", "brewgate-sidecar");

export interface SidecarOptions {
  modelDir: string;
  /** host:port; port 0 picks a free one (the sidecar prints the one it bound). @default 127.0.0.1:0 */
  listen?: string;
  threads?: number;
  kvBudgetMb?: number;
  binary?: string;
  /** Further flags, passed as they are (e.g. `--tls-cert FILE --tls-key FILE`). */
  args?: string[];
  /** Where the sidecar's own log lines go. @default discarded */
  onLog?: (line: string) => void;
  /** @default 60000 */
  readyTimeoutMs?: number;
}

export interface SidecarProcess {
  address: string;
  process: ChildProcess;
  /** Resolves with the exit code once the process is gone. */
  exited: Promise<number | null>;
  /** SIGTERM (graceful: in-flight work is finished or cancelled), SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<number | null>;
}

/** Starts the inference sidecar as a child process and waits for its "listening on ADDR" line. */
export function startSidecar(opts: SidecarOptions): Promise<SidecarProcess> {
  const binary = opts.binary ?? SIDECAR_BINARY;
  if (!existsSync(binary)) {
    return Promise.reject(new Error(`sidecar binary ${binary} is missing: run \`npm run sidecar:build\``));
  }
  const args = ["--model", opts.modelDir, "--listen", opts.listen ?? "127.0.0.1:0"];
  if (opts.threads) args.push("--threads", String(opts.threads));
  if (opts.kvBudgetMb) args.push("--kv-budget-mb", String(opts.kvBudgetMb));
  if (opts.args) args.push(...opts.args);
  const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const stderrTail: string[] = [];
  const stderrLines = createInterface({ input: child.stderr });
  stderrLines.on("line", (line) => {
    stderrTail.push(line);
    if (stderrTail.length > 20) stderrTail.shift();
    opts.onLog?.(line);
  });
  // "exit" can come before the last lines of stderr are read; a sidecar that stops at start
  // says why in those lines.
  const stderrClosed = new Promise<void>((resolve) => stderrLines.once("close", () => resolve()));

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(
          `sidecar did not become ready in ${opts.readyTimeoutMs ?? 60_000} ms: ${stderrTail.join(" | ")}`,
        ),
      );
    }, opts.readyTimeoutMs ?? 60_000);
    exited.then(async (code) => {
      clearTimeout(timer);
      await stderrClosed;
      reject(new Error(`sidecar exited with code ${code} before it was ready: ${stderrTail.join(" | ")}`));
    });
    createInterface({ input: child.stdout }).on("line", (line) => {
      const m = /^listening on (\S+)$/.exec(line.trim());
      if (!m) {
        opts.onLog?.(line);
        return;
      }
      clearTimeout(timer);
      resolve({
        address: m[1],
        process: child,
        exited,
        async stop(graceMs = 10_000) {
          if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
          child.kill("SIGTERM");
          const force = setTimeout(() => child.kill("SIGKILL"), graceMs);
          const code = await exited;
          clearTimeout(force);
          return code;
        },
      });
    });
  });
}
