import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { createSecureContext } from "node:tls";

/**
 * PEM files named by configuration variables, read and checked once at start, so a wrong file
 * stops the process with the variable and the path named rather than failing every handshake
 * later with a generic connection error.
 */

export function readPem(variable: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`${variable}: cannot read ${path}: ${(err as Error).message}`);
  }
}

/** A CA bundle: the file must hold at least one PEM certificate. */
export function readCaBundle(variable: string, path: string): Buffer {
  const ca = readPem(variable, path);
  try {
    new X509Certificate(ca);
  } catch (err) {
    throw new Error(`${variable}: ${path} holds no PEM certificate: ${(err as Error).message}`);
  }
  return ca;
}

/** A client certificate (chain) and its private key, checked to belong together. */
export function readKeyPair(
  certVariable: string,
  certPath: string,
  keyVariable: string,
  keyPath: string,
): { cert: Buffer; key: Buffer } {
  const cert = readPem(certVariable, certPath);
  const key = readPem(keyVariable, keyPath);
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new Error(
      `${certVariable} (${certPath}) and ${keyVariable} (${keyPath}) are not a PEM certificate and its private key: ${(err as Error).message}`,
    );
  }
  return { cert, key };
}
