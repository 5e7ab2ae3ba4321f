import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { REPO_ROOT } from "./models";

export interface GatewayProcess {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * The gateway as its own OS process (`node [nodeArgs] dist/src/main.js`), as a replica runs in
 * production.
 */
export function startGatewayProcess(
  env: Record<string, string>,
  nodeArgs: string[] = [],
): Promise<GatewayProcess> {
  const child = spawn(process.execPath, [...nodeArgs, join(REPO_ROOT, "dist", "src", "main.js")], {
    cwd: REPO_ROOT,
    env: { ...process.env, PORT: "0", LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const errors: string[] = [];
  createInterface({ input: child.stderr }).on("line", (l) => errors.push(l));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start: ${errors.join("\n")}`)), 30_000);
    child.once("exit", (code) => reject(new Error(`gateway exited with ${code}: ${errors.join("\n")}`)));
    createInterface({ input: child.stdout }).on("line", (line) => {
      const m = /brewgate GraphQL: (\S+)/.exec(line);
      if (!m) return;
      clearTimeout(timer);
      resolve({
        url: m[1],
        child,
        stop: () =>
          new Promise((done) => {
            if (child.exitCode !== null) return done();
            child.once("exit", () => done());
            child.kill("SIGTERM");
          }),
      });
    });
  });
}
