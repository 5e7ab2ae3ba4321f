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
  /**
   * Secured listeners beside the PLAINTEXT one, on free ports: SSL (TLS, a client certificate
   * signed by `tls.clientCa` required), SASL_SSL and SASL_PLAINTEXT (PLAIN, SCRAM-SHA-256 and
   * SCRAM-SHA-512 for each of `users`). Applied when the data directory is first formatted (the
   * SCRAM credentials are written then).
   */
  security?: BrokerSecurity;
}

export interface BrokerSecurity {
  tls: {
    /** PEM certificate of the broker; its names must cover 127.0.0.1. */
    cert: string;
    /** PEM PKCS#8 private key of `cert`, unencrypted. */
    key: string;
    /** PEM CA whose client certificates the SSL listener accepts. */
    clientCa: string;
  };
  users: { name: string; password: string }[];
}

/** Bootstrap lists of the secured listeners (BrokerOptions.security). */
export interface SecuredListeners {
  SSL: string[];
  SASL_SSL: string[];
  SASL_PLAINTEXT: string[];
}

export interface Broker {
  /** Bootstrap list for clients, e.g. ["127.0.0.1:9092"]. */
  brokers: string[];
  /** With BrokerOptions.security: the secured listeners' bootstrap lists. */
  secured?: SecuredListeners;
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

interface Ports {
  port: number;
  controllerPort: number;
  secured?: { SSL: number; SASL_SSL: number; SASL_PLAINTEXT: number };
}

/** A properties value: backslashes, and the line breaks that would end it, escaped. */
const propertyValue = (v: string) => v.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");

/** The broker side of BrokerOptions.security: TLS stores (PEM files) and one JAAS login per mechanism. */
function securityProperties(dataDir: string, security: BrokerSecurity): string[] {
  // A PEM key store is one file holding the private key and the certificate chain.
  const keyStore = join(dataDir, "broker-keystore.pem");
  writeFileSync(
    keyStore,
    `${readFileSync(security.tls.key, "utf8")}\n${readFileSync(security.tls.cert, "utf8")}`,
    {
      mode: 0o600,
    },
  );
  const quoted = (s: string) => `"${s.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
  const plainUsers = security.users.map((u) => `user_${u.name}=${quoted(u.password)}`).join(" ");
  const scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;";
  const lines = [
    "ssl.keystore.type=PEM",
    `ssl.keystore.location=${propertyValue(keyStore)}`,
    "ssl.truststore.type=PEM",
    `ssl.truststore.location=${propertyValue(resolve(security.tls.clientCa))}`,
    "listener.name.ssl.ssl.client.auth=required",
    "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
  ];
  for (const listener of ["sasl_ssl", "sasl_plaintext"]) {
    lines.push(
      `listener.name.${listener}.plain.sasl.jaas.config=${propertyValue(`org.apache.kafka.common.security.plain.PlainLoginModule required ${plainUsers};`)}`,
      `listener.name.${listener}.scram-sha-256.sasl.jaas.config=${scram}`,
      `listener.name.${listener}.scram-sha-512.sasl.jaas.config=${scram}`,
    );
  }
  return lines;
}

function serverProperties(dataDir: string, ports: Ports, security?: BrokerSecurity): string {
  const { port, controllerPort } = ports;
  const listeners = [`PLAINTEXT://127.0.0.1:${port}`];
  if (ports.secured) {
    for (const [name, p] of Object.entries(ports.secured)) listeners.push(`${name}://127.0.0.1:${p}`);
  }
  // One node: every internal topic must have replication factor 1, or the group coordinator
  // never becomes available. One partition for the internal topics keeps the first group join
  // fast on a small machine.
  return [
    "process.roles=broker,controller",
    "node.id=1",
    `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
    `listeners=${[...listeners, `CONTROLLER://127.0.0.1:${controllerPort}`].join(",")}`,
    `advertised.listeners=${listeners.join(",")}`,
    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
    ...(security ? securityProperties(dataDir, security) : []),
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
  const ports: Ports = { port, controllerPort };
  if (options.security) {
    ports.secured = { SSL: await freePort(), SASL_SSL: await freePort(), SASL_PLAINTEXT: await freePort() };
  }
  const propsFile = join(dataDir, "server.properties");
  const logFile = join(dataDir, "broker.log");
  writeFileSync(propsFile, serverProperties(dataDir, ports, options.security), { mode: 0o600 });

  if (!existsSync(join(dataDir, "logs", "meta.properties"))) {
    const clusterId = newClusterId();
    // SCRAM credentials live in the cluster metadata; the storage tool writes them with the format.
    const scram = (options.security?.users ?? []).flatMap((u) =>
      ["SCRAM-SHA-256", "SCRAM-SHA-512"].flatMap((m) => [
        "--add-scram",
        `${m}=[name=${u.name},password=${u.password}]`,
      ]),
    );
    try {
      execFileSync(
        "java",
        javaArgs(256, "kafka.tools.StorageTool", "format", "-t", clusterId, "-c", propsFile, ...scram),
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
  const secured = ports.secured;
  return {
    brokers,
    ...(secured
      ? {
          secured: {
            SSL: [`127.0.0.1:${secured.SSL}`],
            SASL_SSL: [`127.0.0.1:${secured.SASL_SSL}`],
            SASL_PLAINTEXT: [`127.0.0.1:${secured.SASL_PLAINTEXT}`],
          },
        }
      : {}),
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
