import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, Socket } from "node:net";
import { join, resolve } from "node:path";
import { Kafka, logLevel } from "kafkajs";

/**
 * A single-node Apache Kafka 4 broker (KRaft, broker and controller in one JVM) for tests,
 * benchmarks and local runs. The jars come from Maven Central (scripts/kafka/pom.xml); only a
 * JDK and Maven are needed, no Docker.
 */

const ROOT = resolve(__dirname, "..", "..");
const LIBS = join(ROOT, ".cache", "kafka-libs");
const LOG_CONFIG = join(ROOT, "scripts", "kafka", "log4j2.properties");

export interface BrokerOptions {
  /** Where the broker keeps its log segments and metadata; kept across restart(). */
  dataDir: string;
  /** Client port on 127.0.0.1. @default 0 (any free port) */
  port?: number;
  /** KRaft controller port on 127.0.0.1. @default 0 (any free port) */
  controllerPort?: number;
  /** JVM heap ceiling in MiB. @default 512 */
  heapMb?: number;
  /** Leave the JVM running after this process exits (the CLI's `start`). @default false */
  detached?: boolean;
  /** How long to wait for the broker to answer a metadata request. @default 90000 */
  startTimeoutMs?: number;
}

export interface Broker {
  /** Bootstrap list for clients, e.g. ["127.0.0.1:9092"]. */
  brokers: string[];
  port: number;
  pid: number;
  logFile: string;
  /** Stops the JVM (SIGTERM, then SIGKILL after a grace period) and waits until it is gone. */
  stop(): Promise<void>;
  /** Stops and starts the broker again on the same ports and data. */
  restart(): Promise<void>;
}

/** Fetches the broker jars when they are missing (Maven Central). */
export function ensureBrokerJars(): void {
  execFileSync("bash", [join(ROOT, "scripts", "kafka", "resolve.sh")], {
    stdio: ["ignore", "inherit", "inherit"],
  });
}

/** A port that nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => res(port));
    });
  });
}

function serverProperties(dataDir: string, port: number, controllerPort: number): string {
  // One node: every internal topic must have replication factor 1, or the group coordinator
  // never becomes available. One partition for the internal topics keeps the first group join
  // fast on a small machine.
  return [
    "process.roles=broker,controller",
    "node.id=1",
    `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    "controller.listener.names=CONTROLLER",
    "inter.broker.listener.name=PLAINTEXT",
    `log.dirs=${join(dataDir, "logs")}`,
    "auto.create.topics.enable=false",
    "offsets.topic.replication.factor=1",
    "offsets.topic.num.partitions=1",
    "transaction.state.log.replication.factor=1",
    "transaction.state.log.min.isr=1",
    "transaction.state.log.num.partitions=1",
    "share.coordinator.state.topic.replication.factor=1",
    "share.coordinator.state.topic.min.isr=1",
    "share.coordinator.state.topic.num.partitions=1",
    "group.initial.rebalance.delay.ms=0",
    "",
  ].join("\n");
}

/**
 * 16 random bytes, base64url, as Kafka's own Uuid.randomUuid(): like it, never starting with '-',
 * which the storage tool's argument parser would take for an option (one id in 64 otherwise).
 */
export function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString("base64url");
    if (!id.startsWith("-")) return id;
  }
}

function javaArgs(heapMb: number, ...rest: string[]): string[] {
  return [
    `-Xmx${heapMb}m`,
    "-Xms128m",
    // Two cores: one GC thread's pauses cost less than G1's background threads.
    "-XX:+UseSerialGC",
    "-Djava.awt.headless=true",
    `-Dlog4j2.configurationFile=${LOG_CONFIG}`,
    "-cp",
    join(LIBS, "*"),
    ...rest,
  ];
}

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

function portAccepts(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = new Socket();
    s.once("connect", () => {
      s.destroy();
      res(true);
    });
    s.once("error", () => res(false));
    s.connect(port, "127.0.0.1");
  });
}

async function metadataAnswers(brokers: string[]): Promise<boolean> {
  const admin = new Kafka({
    brokers,
    clientId: "broker-probe",
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
    connectionTimeout: 2000,
  }).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0 && cluster.controller !== null;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((res) => {
    if (child.exitCode !== null || child.signalCode !== null) res();
    else child.once("exit", () => res());
  });
}

/** Formats the data directory on first use, starts the JVM and waits until clients can use it. */
export async function startBroker(options: BrokerOptions): Promise<Broker> {
  ensureBrokerJars();
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const port = options.port || (await freePort());
  const controllerPort = options.controllerPort || (await freePort());
  const heapMb = options.heapMb ?? 512;
  const timeoutMs = options.startTimeoutMs ?? 90_000;
  const brokers = [`127.0.0.1:${port}`];
  const propsFile = join(dataDir, "server.properties");
  const logFile = join(dataDir, "broker.log");
  writeFileSync(propsFile, serverProperties(dataDir, port, controllerPort));

  if (!existsSync(join(dataDir, "logs", "meta.properties"))) {
    const clusterId = newClusterId();
    try {
      execFileSync(
        "java",
        javaArgs(256, "kafka.tools.StorageTool", "format", "-t", clusterId, "-c", propsFile),
        {
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
    } catch (err) {
      const e = err as { stderr?: Buffer; stdout?: Buffer };
      throw new Error(
        `kafka storage format failed in ${dataDir}: ${e.stderr?.toString() || e.stdout?.toString() || String(err)}`,
      );
    }
  }

  let child: ChildProcess;
  const killOnExit = () => child?.kill("SIGKILL");

  const launch = async () => {
    const out = openSync(logFile, "a");
    child = spawn("java", javaArgs(heapMb, "kafka.Kafka", propsFile), {
      stdio: ["ignore", out, out],
      detached: options.detached ?? false,
    });
    if (options.detached) child.unref();
    else process.once("exit", killOnExit);
    const started = Date.now();
    while (Date.now() - started < timeoutMs) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(
          `kafka broker exited during start (code ${child.exitCode}); log ${logFile}:\n${tail(logFile)}`,
        );
      }
      if ((await portAccepts(port)) && (await metadataAnswers(brokers))) return;
      await new Promise((r) => setTimeout(r, 250));
    }
    child.kill("SIGKILL");
    throw new Error(
      `kafka broker on port ${port} not ready after ${timeoutMs} ms; log ${logFile}:\n${tail(logFile)}`,
    );
  };

  const stop = async () => {
    process.removeListener("exit", killOnExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = exited(child);
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    await gone;
    clearTimeout(timer);
  };

  await launch();
  return {
    brokers,
    port,
    get pid() {
      return child.pid ?? -1;
    },
    logFile,
    stop,
    async restart() {
      await stop();
      await launch();
    },
  };
}
