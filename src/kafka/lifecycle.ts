import { isIP, connect as netConnect, Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type {
  Consumer,
  ConsumerConfig,
  ConsumerRunConfig,
  ConsumerSubscribeTopics,
  ISocketFactory,
  Kafka,
  Producer,
  ProducerConfig,
  ProducerRecord,
  RecordMetadata,
} from "kafkajs";
import { KAFKA_LIFECYCLE } from "../config/limits";
import type { Logger } from "../observability/logger";
import { within } from "../util/within";

/**
 * Lifecycle guards around kafkajs 2.2.4, whose consumer can restart itself after disconnect():
 * its crash handler arms a restart timer without checking for a stop in between
 * (kafkajs/src/consumer/index.js:246-301), Runner.stop() is a no-op while a (re)start is still
 * connecting or joining (consumer/runner.js:173-176), and its retriers reconnect lazily after
 * cluster.disconnect() (network/connectionPool.js:52-60, cluster/brokerPool.js:82-111,
 * producer/sendMessages.js:140-146). Here kafkajs never restarts a consumer itself, every restart
 * is ours and refused once stopping, and each client's sockets go through a gate that is shut
 * when it stops, so nothing can reconnect afterwards.
 */

const stoppedError = () => Object.assign(new Error("kafka client is stopped"), { code: "ECLIENTSTOPPED" });

export interface SocketGate {
  /** Pass as KafkaConfig.socketFactory (kafkajs/src/index.js:62, types ISocketFactory). */
  readonly factory: ISocketFactory;
  readonly closed: boolean;
  /**
   * From now on every connection attempt fails at once, as a refused one would. Sockets kafkajs
   * still uses are destroyed with an error, so it rejects their requests and clears their
   * request-queue timers (network/connection.js:207-220 -> requestQueue destroy()). Returns how
   * many such live sockets there were (0 after a clean disconnect).
   */
  close(): number;
}

export function createSocketGate(): SocketGate {
  let closed = false;
  const sockets = new Set<Socket>();
  const factory: ISocketFactory = ({ host, port, ssl, onConnect }) => {
    if (closed) {
      const refused = new Socket();
      process.nextTick(() => refused.destroy(stoppedError()));
      return refused;
    }
    const socket = ssl
      ? tlsConnect({ host, port, ...(isIP(host) ? {} : { servername: host }), ...ssl }, onConnect)
      : netConnect({ host, port }, onConnect);
    socket.setKeepAlive(true, KAFKA_LIFECYCLE.socketKeepAliveMs);
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    return socket;
  };
  return {
    factory,
    get closed() {
      return closed;
    },
    close() {
      closed = true;
      let live = 0;
      for (const socket of sockets) {
        if (socket.destroyed) continue;
        // Already ended by kafkajs's own disconnect (connection.js:274-277): just finish it.
        if (socket.writableEnded) {
          socket.destroy();
          continue;
        }
        live++;
        socket.destroy(stoppedError());
      }
      return live;
    },
  };
}

/** kafkajs's own restart test (consumer/index.js:259-268). */
function kafkajsWouldRestart(error: Error): boolean {
  let cause: { cause?: unknown; retriable?: unknown } = error;
  while (cause.cause instanceof Error) cause = cause.cause;
  return error.name === "KafkaJSNumberOfRetriesExceeded" || cause.retriable === true;
}

export interface ManagedConsumerOptions {
  /** A Kafka client made for this consumer alone, with socketFactory: gate.factory. */
  kafka: Kafka;
  gate: SocketGate;
  config: ConsumerConfig;
  subscription: ConsumerSubscribeTopics;
  run: ConsumerRunConfig;
  logger: Logger;
  /** Delay before restart attempt `n` (0-based; back to 0 after each join). */
  restartDelayMs?: (attempt: number) => number;
  /** How long stop() lets a start that is connecting or joining finish before cutting it off. */
  startSettleMs?: number;
  /** Every crash, whether a restart follows or not (a non-retriable one leaves the consumer down). */
  onCrash?: (error: Error, restarting: boolean) => void;
}

export interface ConsumerStopReport {
  /** A (re)start was connecting/joining when stop() began and had to be cut off. */
  cutOffStart: boolean;
  /** Crashes reported after stop() began; none of them restarts anything. */
  crashesAfterStop: number;
}

export interface ManagedConsumer {
  /** For consumer.on(...) only: never call run(), stop() or disconnect() on it directly. */
  readonly consumer: Consumer;
  start(): Promise<void>;
  /** Idempotent; afterwards no ConsumerGroup can be created and no socket opened by this consumer. */
  stop(): Promise<ConsumerStopReport>;
}

export function createManagedConsumer(options: ManagedConsumerOptions): ManagedConsumer {
  const { kafka, gate, subscription, run, logger } = options;
  const { initialMs, maxMs } = KAFKA_LIFECYCLE.restartBackoff;
  const restartDelayMs = options.restartDelayMs ?? ((n) => Math.min(initialMs * 2 ** n, maxMs));
  const startSettleMs = options.startSettleMs ?? KAFKA_LIFECYCLE.startSettleMs;
  let stopping = false;
  let attempt = 0;
  let crashesAfterStop = 0;
  let restartTimer: NodeJS.Timeout | null = null;
  let starting: Promise<void> | null = null;
  let stopped: Promise<ConsumerStopReport> | null = null;

  const consumer = kafka.consumer({
    ...options.config,
    retry: {
      ...options.config.retry,
      // kafkajs never restarts by itself: with `false` it arms no restartTimeout
      // (consumer/index.js:269-301); the restart is ours (below) and checks `stopping`.
      restartOnFailure: async () => false,
    },
  });

  // consumer.run() resolves once this start has joined, or once its crash was handled
  // (consumer/index.js:243 -> runner.js:82-87), so `starting` covers exactly the window in which
  // consumer.disconnect() would not stop it (runner.js:173-176).
  const launch = (): Promise<void> => {
    const started: Promise<void> = consumer
      .run(run)
      .catch((err: Error) => logger.error({ err }, "kafka consumer run() failed"))
      .finally(() => {
        if (starting === started) starting = null;
      });
    starting = started;
    return started;
  };

  consumer.on(consumer.events.GROUP_JOIN, () => {
    attempt = 0;
  });
  consumer.on(consumer.events.CRASH, ({ payload: { error } }) => {
    // kafkajs has already disconnected this consumer when CRASH is emitted (consumer/index.js:257).
    if (stopping) {
      crashesAfterStop++;
      logger.warn({ err: error }, "kafka consumer crashed while stopping; not restarting");
      return;
    }
    const restarting = kafkajsWouldRestart(error);
    options.onCrash?.(error, restarting);
    if (!restarting) return;
    const delay = restartDelayMs(attempt++);
    restartTimer = setTimeout(() => {
      restartTimer = null;
      if (!stopping) launch();
    }, delay);
  });

  return {
    consumer,
    async start() {
      if (stopping) throw new Error("kafka consumer was stopped");
      await consumer.connect();
      await consumer.subscribe(subscription);
      await launch();
    },
    stop() {
      if (stopped) return stopped;
      stopping = true;
      if (restartTimer) clearTimeout(restartTimer);
      restartTimer = null;
      stopped = (async () => {
        let cutOffStart = false;
        const inFlight = starting;
        if (inFlight && !(await within(inFlight, startSettleMs))) {
          // Still connecting/joining (a broker outage parks JoinGroup until the old member's
          // session times out): take its sockets away so it fails instead of joining behind our back.
          cutOffStart = true;
          logger.warn(
            { waitedMs: startSettleMs },
            "kafka consumer start still in progress at stop; cutting it off",
          );
          gate.close();
          await within(inFlight, startSettleMs);
        }
        await consumer.disconnect();
        return { cutOffStart, crashesAfterStop };
      })();
      return stopped;
    },
  };
}

export interface ManagedProducer {
  connect(): Promise<void>;
  /** Refused once stop() began. */
  send(record: ProducerRecord): Promise<RecordMetadata[]>;
  /** Waits up to `settleMs` for sends in flight, disconnects, then shuts the gate. */
  stop(settleMs?: number): Promise<{ abandonedSends: number }>;
}

/**
 * kafkajs's producer.disconnect() neither waits for nor cancels a send() that is retrying, and
 * that send reconnects the cluster after disconnect() resolved (producer/sendMessages.js:127-170).
 */
export function createManagedProducer(
  kafka: Kafka,
  gate: SocketGate,
  config: ProducerConfig,
): ManagedProducer {
  const producer: Producer = kafka.producer(config);
  const inFlight = new Set<Promise<unknown>>();
  let stopping = false;
  return {
    connect: () => producer.connect(),
    send(record) {
      if (stopping) return Promise.reject(new Error("kafka producer is stopping"));
      const sent = producer.send(record);
      inFlight.add(sent);
      const forget = () => {
        inFlight.delete(sent);
      };
      sent.then(forget, forget);
      return sent;
    },
    async stop(settleMs: number = KAFKA_LIFECYCLE.sendSettleMs) {
      stopping = true;
      if (inFlight.size > 0) await within(Promise.allSettled([...inFlight]), settleMs);
      const abandonedSends = inFlight.size;
      await producer.disconnect();
      gate.close(); // a send still retrying can no longer reconnect
      return { abandonedSends };
    },
  };
}
