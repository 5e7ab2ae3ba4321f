import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { startBroker } from "../dev/kafka-broker";

/**
 * A local Kafka broker for running the gateway by hand:
 *   npm run kafka:start [-- --port 9092 --dir .data/kafka]   (prints the KAFKA_BROKERS to use)
 *   npm run kafka:stop  [-- --dir .data/kafka]
 * The broker runs in the background; its pid and port are kept in <dir>/broker.json.
 */

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    port: { type: "string", default: process.env.KAFKA_PORT ?? "9092" },
    dir: { type: "string", default: join(process.env.DATA_DIR ?? ".data", "kafka") },
  },
});
const dir = resolve(values.dir);
const stateFile = join(dir, "broker.json");

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function state(): { pid: number; port: number } | null {
  if (!existsSync(stateFile)) return null;
  const s = JSON.parse(readFileSync(stateFile, "utf8")) as { pid: number; port: number };
  return alive(s.pid) ? s : null;
}

async function start() {
  const running = state();
  if (running) {
    console.log(`kafka: already running (pid ${running.pid})\nKAFKA_BROKERS=127.0.0.1:${running.port}`);
    return;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port <= 0 || port > 65535)
    throw new Error(`--port must be a TCP port, got '${values.port}'`);
  const broker = await startBroker({ dataDir: dir, port, controllerPort: port + 1, detached: true });
  writeFileSync(stateFile, JSON.stringify({ pid: broker.pid, port: broker.port }));
  console.log(
    `kafka: started (pid ${broker.pid}, data ${dir}, log ${broker.logFile})\nKAFKA_BROKERS=${broker.brokers.join(",")}`,
  );
}

async function stop() {
  const running = state();
  if (!running) {
    console.log("kafka: not running");
    rmSync(stateFile, { force: true });
    return;
  }
  process.kill(running.pid, "SIGTERM");
  const deadline = Date.now() + 20_000;
  while (alive(running.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  if (alive(running.pid)) process.kill(running.pid, "SIGKILL");
  rmSync(stateFile, { force: true });
  console.log(`kafka: stopped (pid ${running.pid})`);
}

const command = positionals[0];
const run = command === "start" ? start : command === "stop" ? stop : null;
if (!run) {
  console.error(`usage: kafka start|stop [--port N] [--dir DIR]; got '${command ?? ""}'`);
  process.exit(2);
}
run().catch((err) => {
  console.error(`kafka ${command} failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
