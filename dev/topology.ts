import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  closeSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { get as httpGet } from "node:http";
import { connect, createServer } from "node:net";
import { join, relative, resolve } from "node:path";
import { Client } from "pg";
import { parse as parseYaml } from "yaml";
import { signToken } from "../src/auth/tokens";
import { loadConfig } from "../src/config";
import { createDb } from "../src/db/client";
import { migrate } from "../src/db/migrate";
import { ensureDemoModel } from "./demo-model";
import { DEMO_MEMBER_ID, type DemoCounts, type DemoSeedReport, seedDemoData } from "./demo-seed";
import { type Broker, freePort, startBroker } from "./kafka-broker";
import { type SidecarProcess, startSidecar } from "./sidecar-process";

/**
 * A local replica of the production topology of k8s/base: two gateway processes configured by the
 * gateway ConfigMap's env file (k8s/base/gateway.env) with only what differs on one machine
 * overridden, two inference sidecars started with the sidecar Deployment's flags, one Kafka
 * broker, one Redis and a PostgreSQL database shared by both gateways. What users reach is what
 * they reach in a cluster: two replicas that require authentication, share ingestion through one
 * consumer group, fan live predictions out through Redis and fail over between sidecars.
 */

const ROOT = resolve(__dirname, "..", "..");

/** The gateway ConfigMap's env file (kustomize configMapGenerator `envs`). */
export const GATEWAY_ENV_FILE = join(ROOT, "k8s", "base", "gateway.env");
/** The sidecar Deployment: its container's args are the sidecars' flags. */
export const SIDECAR_DEPLOYMENT = join(ROOT, "k8s", "base", "sidecar-deployment.yaml");

/** The machine's PostgreSQL, as the integration tests reach it (trust auth on 127.0.0.1). */
export const DEFAULT_PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres";
export const DEFAULT_DATABASE_NAME = "brewgate_topology";

/** Issuer and audience of the local tokens (AUTH_JWT_ISSUER, AUTH_JWT_AUDIENCE in gateway.env's comments). */
export const TOPOLOGY_ISSUER = "brewgate-local";
export const TOPOLOGY_AUDIENCE = "brewgate";
/** A week, as npm start's development tokens: long enough to leave the topology running. */
const TOKEN_TTL_S = 7 * 86_400;

/**
 * The demo marketplace, smaller than npm start's: the topology is for trying the wiring, not for
 * `npm run eval`, and two gateways, two sidecars and a broker already share the machine.
 */
export const TOPOLOGY_SEED_COUNTS: DemoCounts = {
  members: 20,
  items: 60,
  interactions: 120,
  impressions: 40,
  saveImpressions: 0,
  shownPerImpression: 10,
  weeks: 4,
};

export interface TopologyOptions {
  /** Broker data, logs and the token secret. @default <repo>/.data/topology */
  dataDir?: string;
  /** A database to use as it is (the CLI: DATABASE_URL). Unset: `databaseName` on `pgAdminUrl`. */
  databaseUrl?: string;
  /** Server on which `databaseName` is created when missing. @default DEFAULT_PG_ADMIN_URL */
  pgAdminUrl?: string;
  /** @default brewgate_topology */
  databaseName?: string;
  /** A Redis to use (the CLI: REDIS_URL). Unset: a redis-server of its own on a free port. */
  redisUrl?: string;
  /** The served checkpoint. Unset: the demo model, as npm start finds it. */
  modelDir?: string;
  /** Ports of gateway A and B on 127.0.0.1. @default two free ports */
  gatewayPorts?: [number, number];
  /** @default GATEWAY_ENV_FILE */
  gatewayEnvFile?: string;
  /** Engine threads per sidecar (the CPU overlay gives each pod 4; here they share the machine). @default 1 */
  sidecarThreads?: number;
  /** KV cache per sidecar (the CPU overlay: 2048). @default 256 */
  sidecarKvBudgetMb?: number;
  /** Demo data written into an empty database; false: none. @default TOPOLOGY_SEED_COUNTS */
  seed?: DemoCounts | false;
  /** HS256 secret of the local tokens. @default one made once in dataDir/jwt-secret */
  jwtSecret?: string;
  /** Progress, and processes that exit on their own. @default discarded */
  log?: (line: string) => void;
  /** Aborting stops what has started and rejects. */
  signal?: AbortSignal;
}

export interface ProcessHandle {
  name: string;
  pid: number;
  logFile: string;
  /** Resolves with the exit code (null: ended by a signal) once the process is gone. */
  exited: Promise<number | null>;
}

export interface GatewayHandle extends ProcessHandle {
  /** http://127.0.0.1:PORT/graphql (WebSocket subscriptions on the same URL, ws://). */
  url: string;
  port: number;
  /** The environment it was started with: gateway.env with the local overrides. */
  env: Record<string, string>;
}

export interface SidecarHandle extends ProcessHandle {
  /** host:port of its gRPC server. */
  address: string;
  /** Its Prometheus endpoint (the Deployment's --metrics-listen), when it printed one. */
  metricsUrl: string | null;
  /** Every flag it was started with. */
  args: string[];
  process: SidecarProcess;
}

export interface Topology {
  gateways: [GatewayHandle, GatewayHandle];
  sidecars: [SidecarHandle, SidecarHandle];
  kafka: { brokers: string[]; pid: number; dataDir: string; logFile: string; topics: KafkaTopics };
  /** `pid` null: REDIS_URL was given and is used as it is. */
  redis: { url: string; pid: number | null; logFile: string | null };
  database: { url: string; created: boolean; seeded: DemoSeedReport | null };
  /** Tokens for member-1 and a service, signed as the gateways verify them. */
  tokens: { memberId: string; member: string; service: string };
  modelDir: string;
  dataDir: string;
  /** The variables set here on top of gateway.env, by name. */
  overridden: string[];
  /** Every process started here. */
  pids(): number[];
  /** Gateways first (SIGTERM, their own drain), then the sidecars, the broker and Redis; idempotent. */
  stop(): Promise<StopReport>;
}

export interface KafkaTopics {
  interactions: string;
  members: string;
  items: string;
  impressions: string;
  dlq: string;
}

export interface StopReport {
  /** Every process stopped when asked, with status 0. */
  clean: boolean;
  /** What did not: a gateway that exited with 1 or had to be killed, say. */
  problems: string[];
}

/**
 * The KEY=VALUE lines of an env file as kustomize's configMapGenerator reads them: blank lines and
 * `#` comments skipped, the value is everything after the first `=`, taken as written.
 */
export function readEnvFile(file: string): Record<string, string> {
  const env: Record<string, string> = {};
  readFileSync(file, "utf8")
    .split("\n")
    .forEach((raw, i) => {
      const line = raw.trim();
      if (line === "" || line.startsWith("#")) return;
      const eq = line.indexOf("=");
      const key = eq < 0 ? line : line.slice(0, eq);
      if (eq < 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
        throw new Error(`${file}:${i + 1}: expected KEY=VALUE, got '${line}'`);
      }
      if (key in env) throw new Error(`${file}:${i + 1}: ${key} is set twice`);
      env[key] = line.slice(eq + 1);
    });
  return env;
}

/**
 * The sidecar Deployment's flags with the addresses made local: --model and --listen are given
 * by startSidecar, --metrics-listen moves to a free port on 127.0.0.1; every other flag (the
 * shutdown grace, say) is kept as the manifest has it.
 */
export function sidecarManifestArgs(file: string = SIDECAR_DEPLOYMENT): string[] {
  const doc = parseYaml(readFileSync(file, "utf8")) as {
    spec?: { template?: { spec?: { containers?: { name?: string; args?: unknown }[] } } };
  };
  const args = doc?.spec?.template?.spec?.containers?.[0]?.args;
  if (!Array.isArray(args) || !args.every((a) => typeof a === "string")) {
    throw new Error(`${file}: expected spec.template.spec.containers[0].args to be a list of strings`);
  }
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const flag = args[i] as string;
    if (flag === "--model" || flag === "--listen") i++;
    else if (flag === "--metrics-listen") {
      out.push(flag, "127.0.0.1:0");
      i++;
    } else out.push(flag);
  }
  return out;
}

function tail(file: string, lines = 25): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** Running: spawned (a missing executable leaves no pid, and never emits "exit") and not exited. */
function alive(child: ChildProcess): boolean {
  return child.pid !== undefined && child.exitCode === null && child.signalCode === null;
}

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((res) => {
    if (!alive(child)) res(child.exitCode);
    else child.once("exit", (code) => res(code));
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; says whether the grace sufficed. */
async function terminate(
  child: ChildProcess,
  graceMs: number,
): Promise<{ code: number | null; killed: boolean }> {
  if (!alive(child)) return { code: child.exitCode, killed: false };
  const gone = exitOf(child);
  child.kill("SIGTERM");
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    child.kill("SIGKILL");
  }, graceMs);
  const code = await gone;
  clearTimeout(timer);
  return { code, killed };
}

/** Whether a Redis answers PING on host:port. */
function redisAnswers(port: number): Promise<boolean> {
  return new Promise((res) => {
    const socket = connect({ host: "127.0.0.1", port });
    const done = (ok: boolean) => {
      socket.destroy();
      res(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once("error", () => done(false));
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.once("data", (d) => done(d.toString().startsWith("+PONG")));
  });
}

/**
 * GET /readyz on 127.0.0.1:port. node:http rather than fetch, which refuses the ports browsers
 * block (22, 25, 6000, ...) with nothing but "fetch failed".
 */
function readyz(port: number): Promise<{ status: number; body: string }> {
  return new Promise((res, rej) => {
    const req = httpGet({ host: "127.0.0.1", port, path: "/readyz", timeout: 3_000 }, (answer) => {
      let body = "";
      answer.setEncoding("utf8");
      answer.on("data", (chunk) => {
        body += chunk;
      });
      answer.on("end", () => res({ status: answer.statusCode ?? 0, body }));
      answer.on("error", rej);
    });
    req.on("timeout", () => req.destroy(new Error("no answer within 3 s")));
    req.on("error", rej);
  });
}

/** Whether nothing listens on 127.0.0.1:port (a gateway there would answer this one's readiness polls). */
function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.once("error", () => res(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => res(true)));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The database `name` on the server of `adminUrl`, created when missing; its URL. */
async function ensureDatabase(adminUrl: string, name: string): Promise<{ url: string; created: boolean }> {
  const admin = new Client({ connectionString: adminUrl });
  try {
    await admin.connect();
  } catch (err) {
    throw new Error(
      `cannot reach PostgreSQL at ${adminUrl} to create the database ${name}: ${(err as Error).message} (start it, or set DATABASE_URL)`,
    );
  }
  let created = false;
  try {
    const found = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (found.rowCount === 0) {
      await admin.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`);
      created = true;
    }
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), created };
}

/** One HS256 secret per data directory, owner-only, so tokens printed earlier keep working. */
function topologySecret(dataDir: string): string {
  const file = join(dataDir, "jwt-secret");
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  const secret = randomBytes(32).toString("base64url");
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return secret;
}

/** Starts the whole topology; on any failure (or an abort) stops what had started and rethrows. */
export async function startTopology(options: TopologyOptions = {}): Promise<Topology> {
  const log = options.log ?? (() => {});
  const dataDir = resolve(options.dataDir ?? join(ROOT, ".data", "topology"));
  const logDir = join(dataDir, "logs");
  mkdirSync(logDir, { recursive: true });
  const checkAbort = () => options.signal?.throwIfAborted();

  // Read first: a manifest that does not parse stops the start before anything runs.
  const envFile = options.gatewayEnvFile ?? GATEWAY_ENV_FILE;
  const manifestEnv = readEnvFile(envFile);
  const sidecarArgs = sidecarManifestArgs();
  const topics: KafkaTopics = {
    interactions: manifestEnv.KAFKA_TOPIC_INTERACTIONS ?? "brewgate.interactions",
    members: manifestEnv.KAFKA_TOPIC_MEMBERS ?? "brewgate.members",
    items: manifestEnv.KAFKA_TOPIC_ITEMS ?? "brewgate.items",
    impressions: manifestEnv.KAFKA_TOPIC_IMPRESSIONS ?? "brewgate.impressions",
    dlq: manifestEnv.KAFKA_TOPIC_DLQ ?? "brewgate.dlq",
  };
  const modelDir = resolve(options.modelDir ?? ensureDemoModel(join(ROOT, ".data")));

  // Everything started so far, for stop() and for the cleanup of a failed start.
  const parts: {
    redis: { url: string; child: ChildProcess | null; logFile: string | null } | null;
    broker: Broker | null;
  } = { redis: null, broker: null };
  const brokerDir = join(dataDir, "kafka");
  const sidecars: SidecarHandle[] = [];
  /** `ready`: /readyz has answered 200; before that, a gateway has no signal handler yet. */
  const gateways: (GatewayHandle & { child: ChildProcess; ready: boolean })[] = [];
  let stopping = false;
  // Should this process end without stop() (an uncaught error, process.exit), its children must
  // not outlive it. The broker kills its own JVM on exit.
  const killAll = () => {
    for (const g of gateways) if (alive(g.child)) g.child.kill("SIGKILL");
    for (const s of sidecars) if (alive(s.process.process)) s.process.process.kill("SIGKILL");
    const redisChild = parts.redis?.child;
    if (redisChild && alive(redisChild)) redisChild.kill("SIGKILL");
  };
  process.on("exit", killAll);
  const watch = (name: string, exited: Promise<number | null>) =>
    exited.then((code) => {
      if (!stopping) log(`${name} exited on its own (status ${code ?? "killed by a signal"})`);
    });

  let stopped: Promise<StopReport> | null = null;
  const stop = () => {
    stopped ??= (async () => {
      stopping = true;
      const problems: string[] = [];
      // The gateways first: they drain requests, commit their Kafka offsets, write queued
      // impressions and leave the consumer group while the sidecars, the broker and Redis are still
      // there. Their own deadline is SHUTDOWN_TIMEOUT_MS; past it and a margin, they are killed.
      const gatewayGraceMs = Number(manifestEnv.SHUTDOWN_TIMEOUT_MS ?? 25_000) + 5_000;
      await Promise.all(
        gateways.map(async (g) => {
          const wasReady = g.ready;
          const { code, killed } = await terminate(g.child, gatewayGraceMs);
          if (killed)
            problems.push(
              `${g.name} did not stop within ${gatewayGraceMs} ms and was killed (log ${g.logFile})`,
            );
          // Ended by the SIGTERM itself (status null) only while it was still starting: nothing to drain yet.
          else if (code !== 0 && (wasReady || code !== null)) {
            problems.push(
              `${g.name} ${code === null ? "was ended by a signal" : `exited with status ${code}`} (log ${g.logFile})`,
            );
          }
        }),
      );
      await Promise.all(
        sidecars.map(async (s) => {
          const running = alive(s.process.process);
          const code = await s.process.stop(10_000);
          if (running && code !== 0) problems.push(`${s.name} exited with status ${code} (log ${s.logFile})`);
        }),
      );
      await parts.broker?.stop();
      const redisChild = parts.redis?.child;
      if (redisChild) {
        const { killed } = await terminate(redisChild, 5_000);
        if (killed)
          problems.push(`redis did not stop within 5000 ms and was killed (log ${parts.redis?.logFile})`);
      }
      process.removeListener("exit", killAll);
      return { clean: problems.length === 0, problems };
    })();
    return stopped;
  };

  const startRedis = async () => {
    if (options.redisUrl) {
      parts.redis = { url: options.redisUrl, child: null, logFile: null };
      return;
    }
    const port = await freePort();
    const logFile = join(logDir, "redis.log");
    const out = openSync(logFile, "w");
    // Nothing to keep: Redis only carries live events and rate-limit counters here.
    const child = spawn(
      "redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dataDir],
      { stdio: ["ignore", out, out] },
    );
    closeSync(out);
    parts.redis = { url: `redis://127.0.0.1:${port}`, child, logFile };
    const spawnError = new Promise<Error>((res) => child.once("error", res));
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (await redisAnswers(port)) break;
      const failed = await Promise.race([spawnError, sleep(100).then(() => null)]);
      if (failed) {
        throw new Error(
          `cannot start redis-server: ${failed.message} (install it, e.g. apt-get install redis-server, or set REDIS_URL)`,
        );
      }
      if (!alive(child))
        throw new Error(`redis-server exited during start; log ${logFile}:\n${tail(logFile)}`);
      if (Date.now() > deadline)
        throw new Error(`redis-server on port ${port} did not answer PING within 15 s`);
      checkAbort();
    }
    watch("redis", exitOf(child));
  };

  const startKafka = async () => {
    // The tests' heap: the demo traffic is small, and the machine is shared with everything else.
    parts.broker = await startBroker({ dataDir: brokerDir, heapMb: 384 });
  };

  const prepareDatabase = async () => {
    const db = options.databaseUrl
      ? { url: options.databaseUrl, created: false }
      : await ensureDatabase(
          options.pgAdminUrl ?? DEFAULT_PG_ADMIN_URL,
          options.databaseName ?? DEFAULT_DATABASE_NAME,
        );
    checkAbort();
    // The gateways migrate too (every replica does at start-up), but the demo data needs the tables first.
    await migrate(db.url);
    let seeded: DemoSeedReport | null = null;
    if (options.seed !== false) {
      const client = createDb(db.url, { max: 2 });
      try {
        seeded = await seedDemoData(client, options.seed ?? TOPOLOGY_SEED_COUNTS);
      } finally {
        await client.$disconnect();
      }
    }
    return { ...db, seeded };
  };

  const startOneSidecar = async (name: string) => {
    const logFile = join(logDir, `${name}.log`);
    const out = createWriteStream(logFile);
    let metricsUrl: string | null = null;
    const proc = await startSidecar({
      modelDir,
      listen: "127.0.0.1:0",
      threads: options.sidecarThreads ?? 1,
      kvBudgetMb: options.sidecarKvBudgetMb ?? 256,
      args: sidecarArgs,
      onLog: (line) => {
        metricsUrl ??= /^metrics: (http\S+)/.exec(line)?.[1] ?? null;
        out.write(`${line}\n`);
      },
    });
    proc.exited.then(() => out.end());
    const handle: SidecarHandle = {
      name,
      pid: proc.process.pid ?? -1,
      logFile,
      exited: proc.exited,
      address: proc.address,
      // Read when asked: the sidecar prints it on stderr before "listening on" on stdout, but the
      // two streams are read independently and either line may be handled first.
      get metricsUrl() {
        return metricsUrl;
      },
      args: proc.process.spawnargs.slice(1),
      process: proc,
    };
    sidecars.push(handle);
    watch(name, proc.exited);
  };

  const startGatewayProcess = async (name: string, port: number, env: Record<string, string>) => {
    const logFile = join(logDir, `${name}.log`);
    const out = openSync(logFile, "w");
    // As the image runs it (docker/gateway.Dockerfile CMD). Its environment is the pod's: the
    // ConfigMap and the Secret, nothing inherited from this shell but PATH; its working directory
    // holds no .env, which main.js would otherwise read.
    const child = spawn(
      process.execPath,
      ["--max-semi-space-size=32", join(ROOT, "dist", "src", "main.js")],
      {
        cwd: dataDir,
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
        stdio: ["ignore", out, out],
      },
    );
    closeSync(out);
    const url = `http://127.0.0.1:${port}/graphql`;
    const handle = {
      name,
      pid: child.pid ?? -1,
      logFile,
      exited: exitOf(child),
      url,
      port,
      env,
      child,
      ready: false,
    };
    gateways.push(handle);
    // Ready as its readinessProbe sees it: /readyz answers 200 once the database, Redis, the Kafka
    // consumer (joined its group) and a sidecar answer.
    const deadline = Date.now() + 120_000;
    let last = "no answer";
    for (;;) {
      if (!alive(child)) {
        throw new Error(
          `${name} exited with status ${child.exitCode} during start; log ${logFile}:\n${tail(logFile)}`,
        );
      }
      try {
        const res = await readyz(port);
        if (res.status === 200) break;
        last = `${res.status} ${res.body}`;
      } catch (err) {
        last = (err as Error).message;
      }
      if (Date.now() > deadline) {
        throw new Error(
          `${name} on port ${port} not ready within 120 s (last /readyz: ${last}); log ${logFile}`,
        );
      }
      checkAbort();
      await sleep(250);
    }
    handle.ready = true;
    watch(name, handle.exited);
  };

  try {
    const ports = options.gatewayPorts ?? [await freePort(), await freePort()];
    while (ports[1] === ports[0]) ports[1] = await freePort();
    for (const port of ports) {
      if (!(await portFree(port)))
        throw new Error(`port ${port} on 127.0.0.1 is in use: choose other gateway ports`);
    }
    log(
      `starting ${options.redisUrl ? "" : "Redis, "}a Kafka broker, two sidecars on ${relative(ROOT, modelDir) || modelDir} and the database`,
    );
    // Side by side: none needs another. allSettled, so that every one that did start is known to
    // stop() before a failure is rethrown.
    const [db, ...rest] = await Promise.allSettled([
      prepareDatabase(),
      startRedis(),
      startKafka(),
      startOneSidecar("sidecar-1"),
      startOneSidecar("sidecar-2"),
    ]);
    const failed = [db, ...rest].find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
    checkAbort();
    const database = (db as PromiseFulfilledResult<Awaited<ReturnType<typeof prepareDatabase>>>).value;
    sidecars.sort((a, b) => a.name.localeCompare(b.name));
    const liveRedis = parts.redis;
    const liveBroker = parts.broker;
    if (!liveRedis || !liveBroker)
      throw new Error("Redis or the Kafka broker did not start, and said nothing");

    const jwtSecret = options.jwtSecret ?? topologySecret(dataDir);
    // Only what has to differ on one machine; everything else is the ConfigMap's. In a cluster the
    // Secret holds DATABASE_URL, REDIS_URL and AUTH_JWT_SECRET; KAFKA_BROKERS, MODEL_DIR and
    // INFERENCE_ADDRESSES name the cluster's brokers, the model volume and the sidecars' Service.
    const local = (port: number): Record<string, string> => ({
      HOST: "127.0.0.1",
      PORT: String(port),
      DATABASE_URL: database.url,
      REDIS_URL: liveRedis.url,
      KAFKA_BROKERS: liveBroker.brokers.join(","),
      MODEL_DIR: modelDir,
      INFERENCE_ADDRESSES: sidecars.map((s) => s.address).join(","),
      AUTH_JWT_SECRET: jwtSecret,
      AUTH_JWT_ISSUER: TOPOLOGY_ISSUER,
      AUTH_JWT_AUDIENCE: TOPOLOGY_AUDIENCE,
    });
    const envs = ports.map((port) => ({ ...manifestEnv, ...local(port) }));
    for (const env of envs) {
      try {
        loadConfig(env);
      } catch (err) {
        throw new Error(
          `the gateway environment (${envFile} with the local overrides): ${(err as Error).message}`,
        );
      }
    }
    log(`starting gateway-a and gateway-b (ports ${ports.join(", ")}) with ${relative(ROOT, envFile)}`);
    // Both at once, as a Deployment's replicas start: each migrates (under a lock) and creates the
    // missing topics.
    const started = await Promise.allSettled([
      startGatewayProcess("gateway-a", ports[0], envs[0]),
      startGatewayProcess("gateway-b", ports[1], envs[1]),
    ]);
    const gatewayFailed = started.find((r) => r.status === "rejected");
    if (gatewayFailed) throw (gatewayFailed as PromiseRejectedResult).reason;
    gateways.sort((a, b) => a.name.localeCompare(b.name));

    const sign = (role: "member" | "service", memberId?: string) =>
      signToken(jwtSecret, {
        role,
        memberId,
        issuer: TOPOLOGY_ISSUER,
        audience: TOPOLOGY_AUDIENCE,
        ttlSeconds: TOKEN_TTL_S,
      });
    const tokens = {
      memberId: DEMO_MEMBER_ID,
      member: await sign("member", DEMO_MEMBER_ID),
      service: await sign("service"),
    };
    const publicGateway = ({
      child: _child,
      ready: _ready,
      ...g
    }: (typeof gateways)[number]): GatewayHandle => g;
    return {
      gateways: [publicGateway(gateways[0]), publicGateway(gateways[1])],
      sidecars: [sidecars[0], sidecars[1]],
      kafka: {
        brokers: liveBroker.brokers,
        pid: liveBroker.pid,
        dataDir: brokerDir,
        logFile: liveBroker.logFile,
        topics,
      },
      redis: { url: liveRedis.url, pid: liveRedis.child?.pid ?? null, logFile: liveRedis.logFile },
      database: { url: database.url, created: database.created, seeded: database.seeded },
      tokens,
      modelDir,
      dataDir,
      overridden: Object.keys(local(0)),
      pids: () =>
        [
          ...gateways.map((g) => g.pid),
          ...sidecars.map((s) => s.pid),
          liveBroker.pid,
          liveRedis.child?.pid ?? -1,
        ].filter((p) => p > 0),
      stop,
    };
  } catch (err) {
    const report = await stop();
    if (!report.clean) log(`while stopping after a failed start: ${report.problems.join("; ")}`);
    throw err;
  }
}

/** What runs where, the tokens and what to try: the banner of `npm run topology`. */
export function describeTopology(t: Topology): string {
  const rel = (p: string) => relative(process.cwd(), p) || ".";
  const [a, b] = t.gateways;
  const seeded = t.database.seeded;
  const lines = [
    "",
    "  brewgate topology is up: the wiring of k8s/base on this machine",
    "",
    `  gateway A    ${a.url}   (subscriptions: ${a.url.replace(/^http/, "ws")})   pid ${a.pid}`,
    `  gateway B    ${b.url}   (subscriptions: ${b.url.replace(/^http/, "ws")})   pid ${b.pid}`,
    `               environment: ${rel(GATEWAY_ENV_FILE)} (NODE_ENV=${a.env.NODE_ENV}: authentication required),`,
    `               with ${t.overridden.join(", ")} set here`,
    `               health /healthz, /readyz, /metrics; logs ${rel(a.logFile)}, ${rel(b.logFile)}`,
  ];
  for (const s of t.sidecars) {
    lines.push(
      `  ${s.name.padEnd(12)} ${s.address}   pid ${s.pid}   metrics ${s.metricsUrl ?? "-"}   log ${rel(s.logFile)}`,
    );
  }
  lines.push(
    `               flags ${t.sidecars[0].args.join(" ")}`,
    `               model ${rel(t.modelDir)}`,
    `  kafka        ${t.kafka.brokers.join(",")}   pid ${t.kafka.pid}   data ${rel(t.kafka.dataDir)}   log ${rel(t.kafka.logFile)}`,
    `               topics ${Object.values(t.kafka.topics).join(", ")}; both gateways consume in group ${a.env.KAFKA_GROUP_ID}`,
    `  redis        ${t.redis.url}${t.redis.pid ? `   pid ${t.redis.pid} (no persistence)` : "   (REDIS_URL)"}`,
    `  postgresql   ${t.database.url}${t.database.created ? " (created)" : ""}`,
    seeded
      ? `               demo data written: ${seeded.members} members, ${seeded.items} jobs, ${seeded.interactions} interactions, ${seeded.impressions} impressions`
      : "               demo data: the database already had members; left as it is",
    "",
    `  tokens       HS256, a week (AUTH_JWT_ISSUER=${TOPOLOGY_ISSUER}, AUTH_JWT_AUDIENCE=${TOPOLOGY_AUDIENCE}):`,
    `    member ${t.tokens.memberId}  ${t.tokens.member}`,
    `    service           ${t.tokens.service}`,
    "",
    `  try          curl -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \\`,
    `                 -d '{"query":"{ recommendations(memberId: \\"${t.tokens.memberId}\\", task: \\"job_apply\\", first: 5) { items { itemId score } } }"}' ${a.url}`,
    `               then the same through ${b.url}; subscribe to livePredictions on one gateway, record an`,
    `               interaction on the other (or produce it to ${t.kafka.topics.interactions}): it crosses through Redis;`,
    `               kill -9 ${t.sidecars[0].pid} (${t.sidecars[0].name}): rankings go on through ${t.sidecars[1].name}`,
    "",
    "  Ctrl-C stops everything: the gateways first, then the sidecars, the broker and Redis.",
    "",
  );
  return `${lines.join("\n")}\n`;
}
