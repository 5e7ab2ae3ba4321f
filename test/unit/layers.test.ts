import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, it } from "node:test";
import { REPO_ROOT } from "../support/models";

/**
 * The direction imports may run in src/, as data: the GraphQL edge calls the use cases, the use
 * cases call the domain, data access and clients, never the other way. A folder may import
 * itself and the folders listed for it; files directly under src/ (main.ts, gateway.ts: the
 * composition root) may import anything. A new folder must be added here to be importable.
 */
const LOWER = ["domain", "config", "util", "observability"];
const CLIENTS = ["db", "inference", "prompt", "bus", "kafka"];
const USE_CASES = ["ranking", "ingest", "impressions", "evaluation", "auth"];
const EDGE = ["server", "resolvers", "schema"];
const ALLOWED: Record<string, string[]> = {
  server: [...EDGE, ...USE_CASES, ...CLIENTS, ...LOWER],
  resolvers: [...EDGE, ...USE_CASES, ...CLIENTS, ...LOWER],
  schema: ["domain", "config"],
  ranking: [...CLIENTS, ...LOWER],
  // Offline evaluation replays rankings through the production prompt path.
  evaluation: ["ranking", ...CLIENTS, ...LOWER],
  ingest: ["db", "kafka", "bus", ...LOWER],
  // Who a caller is and what it may do; the GraphQL operation is read at the edge (src/server/gate.ts).
  auth: ["db", ...LOWER],
  impressions: ["db", "kafka", ...LOWER],
  db: LOWER,
  inference: LOWER,
  prompt: LOWER,
  bus: LOWER,
  kafka: LOWER,
  observability: ["config", "util"],
  domain: ["config"],
  config: [],
  util: [],
};

/** Packages that speak GraphQL: only the edge may import them. */
const GRAPHQL_PACKAGES = /^(graphql|type-graphql|graphql-ws|graphql-scalars|@apollo\/|@as-integrations\/)/;

const SRC = join(REPO_ROOT, "src");

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

/** Every module a file imports, statically or dynamically. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const found = text.matchAll(
    /(?:\bfrom\s+|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)["']([^"']+)["']/g,
  );
  return [...found].map((m) => m[1]);
}

/**
 * The layer of a file or import target under src/ (its folder; "root" for a file directly in
 * src/); null outside src/. `../config` names the folder's index.
 */
function layerOf(path: string): string | null {
  const rel = relative(SRC, path);
  if (rel.startsWith("..")) return null;
  const parts = rel.split(/[\\/]/);
  const isFolder = parts.length === 1 && existsSync(path) && statSync(path).isDirectory();
  return parts.length === 1 && !isFolder ? "root" : parts[0].replace(/\.ts$/, "");
}

/** The imports `specs` of `file` that break the rules, as "file -> import (why)". */
function check(file: string, specs: string[]): string[] {
  const from = layerOf(file) as string;
  const out: string[] = [];
  for (const spec of specs) {
    const where = `${relative(REPO_ROOT, file)} -> ${spec}`;
    if (!spec.startsWith(".")) {
      if (GRAPHQL_PACKAGES.test(spec) && !EDGE.includes(from) && from !== "root") {
        out.push(`${where} (only ${EDGE.join(", ")} know GraphQL)`);
      }
      continue;
    }
    const to = layerOf(resolve(dirname(file), spec));
    if (to === null) {
      out.push(`${where} (src/ imports nothing outside it: dev tooling, tests and benches import src/)`);
    } else if (from !== "root" && to !== from && !(ALLOWED[from] ?? []).includes(to)) {
      out.push(`${where} (${from} may import ${(ALLOWED[from] ?? []).join(", ") || "nothing else"})`);
    }
  }
  return out;
}

describe("import rules", () => {
  it("every folder of src/ has a place in the rules", () => {
    const folders = new Set(sources(SRC).map(layerOf));
    folders.delete("root");
    assert.deepEqual(
      [...folders].filter((f) => !(f && f in ALLOWED)),
      [],
    );
  });

  it("imports in src/ run one way: edge -> use cases -> domain, data access and clients", () => {
    assert.deepEqual(
      sources(SRC).flatMap((f) => check(f, importsOf(f))),
      [],
    );
  });

  it("catches a wrong-way import", () => {
    const at = (path: string) => join(SRC, path);
    assert.equal(check(at("domain/errors.ts"), ["../server/context"]).length, 1);
    assert.equal(check(at("db/members.ts"), ["../ranking/recommend"]).length, 1);
    assert.equal(check(at("ranking/recommend.ts"), ["graphql"]).length, 1);
    assert.equal(check(at("inference/client.ts"), ["../../dev/sidecar-process"]).length, 1);
    assert.equal(check(at("ranking/recommend.ts"), ["../db/members", "./prompts", "zod"]).length, 0);
    assert.equal(check(at("gateway.ts"), ["./server/app", "graphql"]).length, 0);
  });
});
