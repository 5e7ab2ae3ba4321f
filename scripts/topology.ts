import { spawn } from "node:child_process";
import { describeTopology, startTopology, type Topology } from "../dev/topology";
import { parseFlags, runCommand, UsageError } from "./cli";

const USAGE = `npm run topology [-- --ports A,B]

Starts the production topology of k8s/base on this machine: a Kafka broker (data in
.data/topology/kafka), a Redis of its own (REDIS_URL: that one instead), the database
brewgate_topology on PostgreSQL at 127.0.0.1:5432 (DATABASE_URL: that one instead), with demo data
when it is empty, two inference sidecars with the sidecar Deployment's flags on the demo model
(MODEL_DIR: that checkpoint instead), and two gateways configured by k8s/base/gateway.env with
only the local addresses and the token secret set here (NODE_ENV=production: authentication is
required; the banner prints a member and a service token). Ctrl-C or SIGTERM stops the gateways,
then the sidecars, the broker and Redis.

  --ports A,B   the gateways' ports on 127.0.0.1 (default 4001,4002)`;

/** Set in the environment of the process that runs the topology (see main). */
const RUNNER = "BREWGATE_TOPOLOGY_RUNNER";

/**
 * A terminal's Ctrl-C signals every process of its foreground process group at once: the
 * sidecars, the broker and Redis would stop at the same moment as the gateways, which then wait
 * out their shutdown deadline on a broker and a Redis that are gone. So the topology runs in a
 * process group of its own, and this process, in the foreground, only relays the signal to it
 * and exits with its status.
 */
function relay(): void {
  const child = spawn(process.execPath, [...process.execArgv, __filename, ...process.argv.slice(2)], {
    detached: true,
    stdio: ["ignore", "pipe", "pipe", "ipc"],
    env: { ...process.env, [RUNNER]: "1" },
  });
  child.stdout?.pipe(process.stdout);
  child.stderr?.pipe(process.stderr);
  let signalled = 0;
  const onSignal = () => {
    // npm forwards the signal the terminal already sent to this process: the same Ctrl-C twice.
    if (signalled === 0) child.kill("SIGTERM");
    else if (Date.now() - signalled > 1_000) {
      process.stderr.write("topology: still stopping; the gateways may take up to SHUTDOWN_TIMEOUT_MS\n");
    }
    signalled ||= Date.now();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  // "close", not "exit": the runner's last lines are still in the pipes when it exits.
  child.once("close", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

function parsePorts(value: string | undefined): [number, number] {
  const ports = (value ?? "4001,4002").split(",").map((p) => Number(p.trim()));
  if (
    ports.length !== 2 ||
    !ports.every((p) => Number.isInteger(p) && p > 0 && p < 65536) ||
    ports[0] === ports[1]
  ) {
    throw new UsageError(`--ports must be two different TCP ports, e.g. 4001,4002; got '${value}'`);
  }
  return [ports[0], ports[1]];
}

async function run(): Promise<void> {
  const flags = parseFlags(
    process.argv.slice(2),
    { ports: { type: "string" }, help: { type: "boolean" } },
    USAGE,
  );
  const gatewayPorts = parsePorts(flags.ports);
  const log = (line: string) => process.stdout.write(`topology: ${line}\n`);
  // The relay is gone (killed, say) when its pipes break: stop rather than die on EPIPE.
  process.stdout.on("error", () => undefined);
  process.stderr.on("error", () => undefined);

  const aborted = new AbortController();
  let topology: Topology | null = null;
  let stopping = false;
  const stop = (why: string) => {
    if (stopping) return;
    stopping = true;
    if (!topology) {
      log(`${why}: stopping what has started`);
      aborted.abort(new Error(`stopped (${why}) while starting`));
      return;
    }
    log(`${why}: stopping the gateways, then the sidecars, the broker and Redis`);
    topology.stop().then(
      (report) => {
        for (const p of report.problems) log(p);
        log(report.clean ? "stopped; nothing left running" : "stopped, not cleanly (above)");
        process.exit(report.clean ? 0 : 1);
      },
      (err) => {
        log(`while stopping: ${err instanceof Error ? err.message : String(err)}`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("disconnect", () => stop("the foreground process went away"));

  try {
    topology = await startTopology({
      gatewayPorts,
      databaseUrl: process.env.DATABASE_URL || undefined,
      redisUrl: process.env.REDIS_URL || undefined,
      modelDir: process.env.MODEL_DIR || undefined,
      log,
      signal: aborted.signal,
    });
  } catch (err) {
    if (aborted.signal.aborted) {
      log("stopped before the start completed; nothing left running");
      process.exit(0);
    }
    throw err;
  }
  process.stdout.write(describeTopology(topology));
  // Signal handlers hold no event loop open, and the children's pipes may all close (a sidecar
  // killed by hand, say): this keeps the process, and the way to stop the rest, alive.
  setInterval(() => undefined, 1 << 30);
}

if (process.env[RUNNER] === "1") runCommand("topology", USAGE, run);
else relay();
