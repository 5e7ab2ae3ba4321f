import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { describe, it } from "node:test";
import { Shutdown } from "../../src/util/shutdown";
import { REPO_ROOT } from "../support/models";

describe("shutdown", () => {
  it("stops parts in reverse order, goes on past a failure, and abandons what outlives the deadline", async () => {
    const order: string[] = [];
    const s = new Shutdown();
    s.add("database", async () => void order.push("database"));
    s.add("hangs", () => new Promise<void>(() => order.push("hangs")));
    s.add("fails", async () => {
      order.push("fails");
      throw new Error("boom");
    });
    s.add("server", async () => void order.push("server"));
    const report = await s.run(200);
    assert.deepEqual(order, ["server", "fails", "hangs"]);
    assert.deepEqual(report.stopped, ["server", "fails"]);
    assert.deepEqual(
      report.failed.map((f) => [f.name, (f.err as Error).message]),
      [["fails", "boom"]],
    );
    assert.deepEqual(report.abandoned, ["hangs", "database"]);
    // Once: a second call gets the same report and stops nothing again.
    assert.equal(await s.run(200), report);
    assert.equal(order.length, 3);
  });
});

/**
 * A process that handles signals as the gateway does (src/signals.ts), whose stop never returns
 * or returns `clean`: what a platform sees when it sends SIGTERM.
 */
function signalled(stop: "hang" | "clean" | "abandoned", timeoutMs: number) {
  const script = `
    const pino = require("pino");
    const { exitOnSignals } = require(${JSON.stringify(join(REPO_ROOT, "dist", "src", "signals.js"))});
    exitOnSignals(pino({ level: "info" }), ${timeoutMs}, () =>
      ${stop === "hang" ? "new Promise(() => {})" : `Promise.resolve(${stop === "clean"})`});
    setInterval(() => {}, 1000); // something that would keep the process alive
    console.log("ready");`;
  const child = spawn(process.execPath, ["-e", script], {
    cwd: REPO_ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const ready = new Promise<void>((resolve) =>
    createInterface({ input: child.stdout }).on("line", (l) => {
      lines.push(l);
      if (l === "ready") resolve();
    }),
  );
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, ready, exited, lines };
}

describe("signals (a real process)", () => {
  it("exits 0 after a clean stop, 1 when parts were abandoned", async () => {
    for (const [stop, code] of [
      ["clean", 0],
      ["abandoned", 1],
    ] as const) {
      const p = signalled(stop, 5_000);
      await p.ready;
      p.child.kill("SIGTERM");
      assert.equal(await p.exited, code, stop);
    }
  });

  it("exits after the deadline and its margin when the stop never returns, saying what held it", async () => {
    const p = signalled("hang", 300);
    await p.ready;
    p.child.kill("SIGTERM");
    assert.equal(await p.exited, 1);
    assert.ok(
      p.lines.some((l) => /exiting anyway/.test(l) && /"active":\[/.test(l)),
      p.lines.join("\n"),
    );
  });

  it("exits at once on a second signal", async () => {
    const p = signalled("hang", 60_000);
    await p.ready;
    p.child.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 200));
    p.child.kill("SIGINT");
    const code = await Promise.race([
      p.exited,
      new Promise<"still running">((r) => setTimeout(() => r("still running"), 10_000).unref()),
    ]);
    if (code === "still running") p.child.kill("SIGKILL");
    assert.equal(code, 1);
    assert.ok(
      p.lines.some((l) => /second signal/.test(l)),
      p.lines.join("\n"),
    );
  });
});
