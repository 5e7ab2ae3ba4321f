import type { Config } from "../config";
import { readCaBundle, readKeyPair } from "../util/pem";

/** TLS of the link to the sidecars: the PEM files' contents, read once at start. */
export interface InferenceTls {
  /** CA bundle that signs the sidecars' certificates; they are checked against it. */
  ca: Buffer;
  /** The gateway's client certificate (chain) and its key, for sidecars that require one (mutual TLS). */
  client?: { cert: Buffer; key: Buffer };
  /**
   * Name the sidecars' certificates must carry, instead of the host of the address (which, for
   * several ip:port, is not one name).
   */
  serverName?: string;
}

export type InferenceTlsVariables = Pick<
  Config,
  "INFERENCE_TLS_CA" | "INFERENCE_TLS_CERT" | "INFERENCE_TLS_KEY" | "INFERENCE_TLS_SERVER_NAME"
>;

/**
 * Reads the files the INFERENCE_TLS_* variables name (loadConfig has checked which go together):
 * undefined, a plaintext link, when INFERENCE_TLS_CA is unset. Checked here rather than at the
 * first call, so a wrong file stops the gateway at start with the variable and the path named:
 * a CA that is no certificate would otherwise fail every handshake with a generic UNAVAILABLE.
 */
export function readInferenceTls(config: InferenceTlsVariables): InferenceTls | undefined {
  if (!config.INFERENCE_TLS_CA) return undefined;
  const tls: InferenceTls = {
    ca: readCaBundle("INFERENCE_TLS_CA", config.INFERENCE_TLS_CA),
    serverName: config.INFERENCE_TLS_SERVER_NAME || undefined,
  };
  if (config.INFERENCE_TLS_CERT && config.INFERENCE_TLS_KEY) {
    // What grpc.credentials.createSsl checks too, but with an error that names the variables.
    tls.client = readKeyPair(
      "INFERENCE_TLS_CERT",
      config.INFERENCE_TLS_CERT,
      "INFERENCE_TLS_KEY",
      config.INFERENCE_TLS_KEY,
    );
  }
  return tls;
}
