import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type Gateway, startGateway } from "../../src/gateway";
import { testConfig } from "../support/config";
import { seedWelderWorld } from "../support/fixtures";
import { gql } from "../support/graphql";
import { testModel } from "../support/models";
import { createTestDatabase, type TestDatabase } from "../support/postgres";
import { startCountedSidecar } from "../support/sidecar";

const MEMBERS = Array.from({ length: 12 }, (_, i) => `m${i + 1}`);
const rec = (member: string) =>
  `{ recommendations(memberId: "${member}", task: "job_apply", candidateIds: ["j1", "j2"]) { items { itemId } } }`;
const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

/**
 * The gateway tokenizes; the sidecar scores token ids. A sidecar whose model directory holds
 * another tokenizer.json (a rolling update half done, a wrong volume) must not be sent them.
 */
describe("gateway and sidecar agree on the tokenizer", () => {
  let pg: TestDatabase;
  let otherDir: string;
  let same: Awaited<ReturnType<typeof startCountedSidecar>>;
  let other: Awaited<ReturnType<typeof startCountedSidecar>>;
  const gateways: Gateway[] = [];

  const gatewayOn = async (addresses: string[]) => {
    const gw = await startGateway(
      testConfig({ DATABASE_URL: pg.url, MODEL_DIR: testModel(), INFERENCE_ADDRESSES: addresses.join(",") }),
    );
    gateways.push(gw);
    return gw;
  };
  const readyz = async (gw: Gateway) => {
    const res = await fetch(gw.url.replace(/\/graphql$/, "/readyz"));
    return { status: res.status, body: (await res.json()) as { checks: Record<string, string> } };
  };

  before(async () => {
    pg = await createTestDatabase();
    // The same model with a tokenizer.json that hashes otherwise (a trailing newline: still valid).
    otherDir = mkdtempSync(join(tmpdir(), "brewgate-other-tokenizer-"));
    cpSync(testModel(), otherDir, { recursive: true });
    appendFileSync(join(otherDir, "tokenizer.json"), "\n");
    [same, other] = await Promise.all([startCountedSidecar(testModel()), startCountedSidecar(otherDir)]);
    const seeding = await gatewayOn([same.proc.address]);
    await seedWelderWorld(seeding.db);
    // More members: affinity would spread them over both sidecars were both used.
    await seeding.db.member.createMany({
      data: MEMBERS.slice(1).map((id) => ({ id, currentPosition: `welder ${id}` })),
    });
  });
  after(async () => {
    for (const gw of gateways) await gw.stop();
    await Promise.all([same?.proc.stop(), other?.proc.stop()]);
    await pg?.drop();
    rmSync(otherDir, { recursive: true, force: true });
  });

  it("with only a mismatched sidecar: not ready and no ranking, both hashes named", async () => {
    const gw = await gatewayOn([other.proc.address]);
    const mine = sha256(join(testModel(), "tokenizer.json"));
    const theirs = sha256(join(otherDir, "tokenizer.json"));
    assert.notEqual(mine, theirs);

    const ready = await readyz(gw);
    assert.equal(ready.status, 503);
    assert.match(ready.body.checks.inference, new RegExp(`SHA-256 ${theirs}.*has ${mine}`));

    const r = await gql(gw.url, rec("m1"));
    assert.equal(r.errors?.[0].extensions?.code, "UNAVAILABLE");
    assert.match(r.errors?.[0].message ?? "", new RegExp(`${theirs}.*${mine}`));
    assert.equal(other.scores(), 0, "the mismatched sidecar was sent no Score");
  });

  it("with one of each: ready, and every member's rankings go to the matching sidecar", async () => {
    const gw = await gatewayOn([other.proc.address, same.proc.address]);
    assert.equal((await readyz(gw)).status, 200);
    const before = same.scores();
    for (const member of MEMBERS) {
      const r = await gql(gw.url, rec(member));
      assert.equal(r.errors, undefined, JSON.stringify(r.errors));
    }
    assert.equal(other.scores(), 0);
    assert.equal(same.scores() - before, MEMBERS.length);
  });
});
