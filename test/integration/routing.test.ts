import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createDb } from "../../src/db/client";
import { type Gateway, startGateway } from "../../src/gateway";
import { testConfig } from "../support/config";
import { gql } from "../support/graphql";
import { testModel } from "../support/models";
import { createTestDatabase, type TestDatabase } from "../support/postgres";
import { startCountedSidecar } from "../support/sidecar";

const ITEMS = ["j1", "j2", "j3"];

interface Ranked {
  recommendations: { items: { itemId: string }[]; usage: { promptTokens: number; cachedTokens: number } };
}

/**
 * Two real sidecars behind one gateway. Every prompt starts with the same task instruction, which
 * any sidecar soon has cached, so "the member's prefix was cached" is read as: a repeat reused more
 * tokens than the member's first ranking did (which found only what all members share).
 */
describe("cache-aware routing over two real sidecars", () => {
  let pg: TestDatabase;
  let a: Awaited<ReturnType<typeof startCountedSidecar>>;
  let b: Awaited<ReturnType<typeof startCountedSidecar>>;

  const gatewayWith = (routing: string) =>
    startGateway(
      testConfig({
        DATABASE_URL: pg.url,
        MODEL_DIR: testModel(),
        INFERENCE_ADDRESSES: `${a.proc.address},${b.proc.address}`,
        INFERENCE_ROUTING: routing,
      }),
    );

  const rank = async (gw: Gateway, memberId: string) => {
    const r = await gql<Ranked>(
      gw.url,
      `query ($m: ID!, $c: [ID!]) { recommendations(memberId: $m, task: "job_apply", candidateIds: $c) { items { itemId } usage { promptTokens cachedTokens } } }`,
      { m: memberId, c: ITEMS },
    );
    assert.equal(r.errors, undefined, JSON.stringify(r.errors));
    return r.data?.recommendations as Ranked["recommendations"];
  };

  /** Ranks each member, then each again in a random order; the share of repeats that found their prefix. */
  const repeatHits = async (gw: Gateway, members: string[]) => {
    const first = new Map<string, number>();
    for (const m of members) first.set(m, (await rank(gw, m)).usage.cachedTokens);
    let hits = 0;
    // A random order: a fixed one can line round robin's turns up with the first pass, or against it.
    const again = [...members].sort(() => Math.random() - 0.5);
    for (const m of again) {
      if ((await rank(gw, m)).usage.cachedTokens > (first.get(m) ?? 0)) hits++;
    }
    return hits / members.length;
  };

  const members = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

  before(async () => {
    pg = await createTestDatabase();
    [a, b] = await Promise.all([startCountedSidecar(), startCountedSidecar()]);
    const db = createDb(pg.url);
    try {
      await db.item.createMany({
        data: ITEMS.map((id, i) => ({ id, type: "JOB", title: ["Welder", "Fitter", "Pipe layer"][i] })),
      });
      // Profiles long enough that each member's own part of the prompt fills several KV blocks.
      const all = [...members("aff", 40), ...members("rr", 40), ...members("kill", 24)];
      await db.member.createMany({
        data: all.map((id) => ({
          id,
          currentPosition: `welder number ${id}`,
          summary: `${id} has welded pipelines, ships and bridges; ${id} trains apprentices and inspects seams. ${id} likes night shifts.`,
          skills: [`tig-${id}`, `mig-${id}`, `stick-${id}`],
        })),
      });
    } finally {
      await db.$disconnect();
    }
  });
  after(async () => {
    await Promise.all([a?.proc.stop(), b?.proc.stop()]);
    await pg?.drop();
  });

  it("affinity: at least 95% of repeated rankings find the member's prefix cached, and both sidecars work", async (t) => {
    const gw = await gatewayWith("affinity");
    const before = { a: a.scores(), b: b.scores() };
    try {
      const share = await repeatHits(gw, members("aff", 40));
      t.diagnostic(`affinity: ${(share * 100).toFixed(1)}% of repeats found their prefix`);
      assert.ok(share >= 0.95, `only ${(share * 100).toFixed(1)}% of repeats found their prefix cached`);
    } finally {
      await gw.stop();
    }
    const used = { a: a.scores() - before.a, b: b.scores() - before.b };
    assert.ok(used.a >= 16 && used.b >= 16, `members spread over both sidecars: ${JSON.stringify(used)}`);
  });

  it("round robin, for comparison, on the same sidecars (reported, not asserted)", async (t) => {
    const gw = await gatewayWith("round_robin");
    try {
      const share = await repeatHits(gw, members("rr", 40));
      t.diagnostic(`round_robin: ${(share * 100).toFixed(1)}% of repeats found their prefix`);
    } finally {
      await gw.stop();
    }
  });

  it("a sidecar killed under load loses no ranking: its members go to the other one", async () => {
    const extra = await startCountedSidecar();
    const gw = await startGateway(
      testConfig({
        DATABASE_URL: pg.url,
        MODEL_DIR: testModel(),
        INFERENCE_ADDRESSES: `${a.proc.address},${extra.proc.address}`,
      }),
    );
    try {
      const killMembers = members("kill", 24);
      // Four clients ranking in a loop; the extra sidecar is killed (SIGKILL, no drain) a moment in.
      let killed = false;
      let served = 0;
      const failures: string[] = [];
      const client = async (offset: number) => {
        for (let round = 0; round < 3; round++) {
          for (let i = offset; i < killMembers.length; i += 4) {
            try {
              const r = await rank(gw, killMembers[i]);
              assert.equal(r.items.length, ITEMS.length);
              served++;
            } catch (err) {
              failures.push(`${killMembers[i]}: ${(err as Error).message}`);
            }
          }
        }
      };
      const load = Promise.all([0, 1, 2, 3].map(client));
      while (served < 10) await new Promise((r) => setTimeout(r, 20));
      const onExtra = extra.scores();
      extra.proc.process.kill("SIGKILL");
      killed = true;
      await load;
      assert.ok(killed && onExtra > 0, `the killed sidecar had served some rankings (${onExtra})`);
      assert.deepEqual(failures, []);
      assert.equal(served, killMembers.length * 3);
    } finally {
      await gw.stop();
      await extra.proc.stop();
    }
  });
});
