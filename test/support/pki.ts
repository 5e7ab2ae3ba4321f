import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The certificates of one test run, made with the openssl CLI: file paths by role. */
export interface Pki {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A CA the sidecars do not know, and a client certificate it signed. */
  otherCa: string;
  otherClientCert: string;
  otherClientKey: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync("/usr/bin/openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

// P-256 keys: generated in milliseconds, where RSA takes a noticeable part of a second each.
const NEW_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

function makeCa(dir: string, name: string): void {
  openssl(dir, [
    "req",
    "-x509",
    ...NEW_KEY,
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.pem`,
    "-days",
    "2",
    "-subj",
    `/CN=brewgate test ${name}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
}

/** A certificate for `name` signed by the CA `ca`, with the extensions `ext` (openssl config lines). */
function makeLeaf(dir: string, name: string, ca: string, ext: string): void {
  openssl(dir, ["req", ...NEW_KEY, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`]);
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(dir, [
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    `${ca}.pem`,
    "-CAkey",
    `${ca}.key`,
    "-set_serial",
    `0x${randomBytes(8).toString("hex")}`,
    "-days",
    "2",
    "-extfile",
    `${name}.ext`,
    "-out",
    `${name}.pem`,
  ]);
}

export function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), "brewgate-tls-"));
  makeCa(dir, "ca");
  makeLeaf(dir, "server", "ca", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  makeLeaf(dir, "client", "ca", "extendedKeyUsage=clientAuth\n");
  makeCa(dir, "other-ca");
  makeLeaf(dir, "other-client", "other-ca", "extendedKeyUsage=clientAuth\n");
  const f = (name: string) => join(dir, name);
  return {
    dir,
    ca: f("ca.pem"),
    serverCert: f("server.pem"),
    serverKey: f("server.key"),
    clientCert: f("client.pem"),
    clientKey: f("client.key"),
    otherCa: f("other-ca.pem"),
    otherClientCert: f("other-client.pem"),
    otherClientKey: f("other-client.key"),
  };
}
