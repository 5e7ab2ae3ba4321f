import type { ConnectionOptions } from "node:tls";
import type { Config } from "../config";
import { readCaBundle, readKeyPair } from "../util/pem";

/** Where the brokers are and how to reach them: every Kafka client of the gateway and its CLIs. */
export interface KafkaConnection {
  brokers: string[];
  /** TLS options for every broker connection (SSL, SASL_SSL); absent: plaintext. */
  ssl?: ConnectionOptions;
  /** SASL login on every broker connection (SASL_PLAINTEXT, SASL_SSL). */
  sasl?: KafkaSasl;
}

export type KafkaConnectionVariables = Pick<
  Config,
  | "KAFKA_BROKERS"
  | "KAFKA_SECURITY_PROTOCOL"
  | "KAFKA_SSL_CA"
  | "KAFKA_SSL_CERT"
  | "KAFKA_SSL_KEY"
  | "KAFKA_SASL_MECHANISM"
  | "KAFKA_SASL_USERNAME"
  | "KAFKA_SASL_PASSWORD"
>;

/** kafkajs's names of the SASL mechanisms (lib/broker/saslAuthenticator). */
const MECHANISMS = {
  PLAIN: "plain",
  "SCRAM-SHA-256": "scram-sha-256",
  "SCRAM-SHA-512": "scram-sha-512",
} as const;

type SaslMechanism = (typeof MECHANISMS)[keyof typeof MECHANISMS];

/** One login per mechanism, a union kafkajs's SASLOptions accepts. */
export type KafkaSasl = {
  [M in SaslMechanism]: { mechanism: M; username: string; password: string };
}[SaslMechanism];

/**
 * The connection the KAFKA_* variables describe (loadConfig has checked which go together). The
 * PEM files are read here, once, so a wrong path or a key that does not match its certificate
 * stops the process at start, naming the variable and the file.
 */
export function kafkaConnection(config: KafkaConnectionVariables): KafkaConnection {
  if (!config.KAFKA_BROKERS || config.KAFKA_BROKERS.length === 0) {
    throw new Error("Kafka needs KAFKA_BROKERS (e.g. 127.0.0.1:9092)");
  }
  const protocol = config.KAFKA_SECURITY_PROTOCOL;
  const connection: KafkaConnection = { brokers: config.KAFKA_BROKERS };
  if (protocol === "SSL" || protocol === "SASL_SSL") {
    const ssl: ConnectionOptions = {};
    if (config.KAFKA_SSL_CA) ssl.ca = readCaBundle("KAFKA_SSL_CA", config.KAFKA_SSL_CA);
    if (config.KAFKA_SSL_CERT && config.KAFKA_SSL_KEY) {
      Object.assign(
        ssl,
        readKeyPair("KAFKA_SSL_CERT", config.KAFKA_SSL_CERT, "KAFKA_SSL_KEY", config.KAFKA_SSL_KEY),
      );
    }
    connection.ssl = ssl;
  }
  if (protocol === "SASL_PLAINTEXT" || protocol === "SASL_SSL") {
    const mechanism = config.KAFKA_SASL_MECHANISM;
    if (!mechanism || !config.KAFKA_SASL_USERNAME || !config.KAFKA_SASL_PASSWORD) {
      throw new Error(
        `KAFKA_SECURITY_PROTOCOL=${protocol} needs KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD`,
      );
    }
    connection.sasl = {
      mechanism: MECHANISMS[mechanism],
      username: config.KAFKA_SASL_USERNAME,
      password: config.KAFKA_SASL_PASSWORD,
    };
  }
  return connection;
}

/** For logs and errors: the brokers and how they are reached, never the password. */
export function describeConnection(connection: KafkaConnection): string {
  const protocol = `${connection.sasl ? "SASL_" : ""}${connection.ssl ? "SSL" : "PLAINTEXT"}`;
  const login = connection.sasl ? ` as '${connection.sasl.username}' (${connection.sasl.mechanism})` : "";
  return `${connection.brokers.join(",")} over ${protocol}${login}`;
}

/**
 * Why the brokers refused `connection`, for the error that stops the gateway: kafkajs's message,
 * and where it points at a setting, which one (never the password).
 */
export function connectionFailure(connection: KafkaConnection, what: string, err: Error): Error {
  let hint = "";
  if (!connection.ssl && /Closed connection|ECONNRESET/i.test(err.message)) {
    hint =
      " (the broker closed the connection: if this listener uses TLS or SASL, set KAFKA_SECURITY_PROTOCOL)";
  } else if (connection.ssl && /certificate|self.signed/i.test(err.message) && !/alert/i.test(err.message)) {
    hint = " (the brokers' certificate is not signed by a CA the gateway trusts: set KAFKA_SSL_CA)";
  } else if (connection.ssl && /alert (bad|unknown|handshake|certificate required)/i.test(err.message)) {
    hint =
      " (the broker refused the TLS handshake: does it require a client certificate (KAFKA_SSL_CERT, KAFKA_SSL_KEY) signed by a CA it trusts?)";
  }
  return new Error(`${what} on Kafka ${describeConnection(connection)}: ${err.message}${hint}`, {
    cause: err,
  });
}
