import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { SidecarProcess } from "../../dev/sidecar-process";
import { type Gateway, startGateway } from "../../src/gateway";
import { testConfig } from "../support/config";
import { gql } from "../support/graphql";
import { testModel } from "../support/models";
import { createTestDatabase, type TestDatabase } from "../support/postgres";
import { startTestSidecar } from "../support/sidecar";

const WINDOW_MS = 60_000;

type Position = {
  rank: number;
  itemId: string;
  score: number;
  probabilities: { action: string; probability: number }[];
  outcome: { action: string; eventId: string; occurredAt: string; attribution: string } | null;
};
type Impression = {
  id: string;
  requestId: string;
  memberId: string;
  task: string;
  model: string;
  promptVersion: string;
  createdAt: string;
  positions: Position[];
};

const FIELDS = `id requestId memberId task model promptVersion createdAt
  positions { rank itemId score probabilities { action probability } outcome { action eventId occurredAt attribution } }`;
const IMPRESSION = `query($id: ID!) { impression(id: $id) { ${FIELDS} } }`;
const IMPRESSIONS = `query($m: ID!, $t: String, $f: Int) { impressions(memberId: $m, task: $t, first: $f) { ${FIELDS} } }`;
const RANK = `query($c: [ID!]) { recommendations(memberId: "m1", task: "job_apply", candidateIds: $c, first: 4) {
  requestId impressionId model promptVersion items { rank itemId score actions { action probability } } } }`;
const RECORD = `mutation($e: [InteractionInput!]!) { recordInteractions(events: $e) { stored } }`;

type Ranked = {
  requestId: string;
  impressionId: string;
  model: string;
  promptVersion: string;
  items: {
    rank: number;
    itemId: string;
    score: number;
    actions: { action: string; probability: number }[];
  }[];
};

describe("impression and impressions queries (real HTTP, PostgreSQL and sidecar)", {
  timeout: 120_000,
}, () => {
  let pg: TestDatabase;
  let sidecar: SidecarProcess;
  let gw: Gateway;

  /** Ranks four items for m1 and waits until the impression is written. */
  const rank = async (candidateIds: string[]): Promise<Ranked> => {
    const r = await gql<{ recommendations: Ranked }>(gw.url, RANK, { c: candidateIds });
    assert.equal(r.errors, undefined, JSON.stringify(r.errors));
    const ranked = r.data?.recommendations;
    assert.ok(ranked?.impressionId);
    // Written behind the answer.
    await gw.impressions.flush();
    return ranked;
  };
  const impression = async (id: string) => {
    const r = await gql<{ impression: Impression | null }>(gw.url, IMPRESSION, { id });
    assert.equal(r.errors, undefined, JSON.stringify(r.errors));
    return r.data?.impression;
  };

  before(async () => {
    [pg, sidecar] = await Promise.all([createTestDatabase(), startTestSidecar()]);
    gw = await startGateway(
      testConfig({
        DATABASE_URL: pg.url,
        MODEL_DIR: testModel(),
        INFERENCE_ADDRESSES: sidecar.address,
        ATTRIBUTION_WINDOW_MS: String(WINDOW_MS),
      }),
    );
    await gw.db.member.create({ data: { id: "m1", currentPosition: "software engineer" } });
    await gw.db.item.createMany({
      data: [0, 1, 2, 3, 4, 5, 6, 7].map((i) => ({
        id: `j${i}`,
        type: "JOB",
        title: `Engineer ${i}`,
        company: `Co ${i}`,
      })),
    });
  });
  after(async () => {
    await gw?.stop();
    await sidecar?.stop();
    await pg?.drop();
  });

  it("returns a ranking as served, each position with its outcome: named, in the window, or none", async () => {
    const ranked = await rank(["j0", "j1", "j2", "j3"]);
    const served = await impression(ranked.impressionId);
    assert.ok(served);
    assert.equal(served.id, ranked.impressionId);
    assert.equal(served.requestId, ranked.requestId);
    assert.equal(served.memberId, "m1");
    assert.equal(served.task, "job_apply");
    assert.equal(served.model, ranked.model);
    assert.equal(served.promptVersion, ranked.promptVersion);
    // As served: the same order, scores and probabilities as the ranking's answer.
    assert.deepEqual(
      served.positions.map((p) => [p.rank, p.itemId]),
      ranked.items.map((i) => [i.rank, i.itemId]),
    );
    for (const [i, p] of served.positions.entries()) {
      assert.ok(Math.abs(p.score - ranked.items[i].score) < 1e-9);
      const expected = [...ranked.items[i].actions].sort((a, b) => a.action.localeCompare(b.action));
      assert.deepEqual(
        p.probabilities.map((x) => x.action),
        expected.map((x) => x.action),
      );
      for (const [k, x] of p.probabilities.entries()) {
        assert.ok(Math.abs(x.probability - expected[k].probability) < 1e-9);
      }
      assert.equal(p.outcome, null, "nothing has happened yet");
    }

    const shownAt = Date.parse(served.createdAt);
    const [first, second, third, fourth] = served.positions.map((p) => p.itemId);
    const at = (ms: number) => new Date(shownAt + ms).toISOString();
    const recorded = await gql<{ recordInteractions: { stored: number } }>(gw.url, RECORD, {
      e: [
        // Named: belongs to the impression, and beats an earlier unnamed one with the same item.
        { eventId: "e-window-first", memberId: "m1", itemId: first, action: "VIEW", occurredAt: at(500) },
        {
          eventId: "e-named",
          memberId: "m1",
          itemId: first,
          action: "APPLY",
          occurredAt: at(1_000),
          impressionId: ranked.impressionId,
        },
        // Unnamed, within the window.
        { eventId: "e-window", memberId: "m1", itemId: second, action: "VIEW", occurredAt: at(2_000) },
        // Unnamed, after the window: no outcome.
        { eventId: "e-late", memberId: "m1", itemId: third, action: "APPLY", occurredAt: at(2 * WINDOW_MS) },
        // Before the impression: not its outcome.
        { eventId: "e-before", memberId: "m1", itemId: fourth, action: "VIEW", occurredAt: at(-1_000) },
      ],
    });
    assert.equal(recorded.errors, undefined, JSON.stringify(recorded.errors));
    assert.equal(recorded.data?.recordInteractions.stored, 5);

    const answered = await impression(ranked.impressionId);
    assert.deepEqual(
      answered?.positions.map((p) => [p.itemId, p.outcome]),
      [
        [first, { action: "APPLY", eventId: "e-named", occurredAt: at(1_000), attribution: "EXPLICIT" }],
        [second, { action: "VIEW", eventId: "e-window", occurredAt: at(2_000), attribution: "WINDOW" }],
        [third, null],
        [fourth, null],
      ],
    );
  });

  it("answers null for an unknown id", async () => {
    const r = await gql<{ impression: Impression | null }>(gw.url, IMPRESSION, { id: "no-such-impression" });
    assert.deepEqual(r, { data: { impression: null } });
  });

  it("lists a member's impressions newest first, by task, at most `first`", async () => {
    // Other items than the first test's, so that its outcomes stay with its impression.
    const older = await rank(["j4", "j5", "j6", "j7"]);
    await new Promise((r) => setTimeout(r, 5));
    const newer = await rank(["j4", "j5", "j6", "j7"]);
    const all = await gql<{ impressions: Impression[] }>(gw.url, IMPRESSIONS, { m: "m1" });
    assert.equal(all.errors, undefined, JSON.stringify(all.errors));
    const listed = all.data?.impressions ?? [];
    assert.equal(listed.length, 3, "this test's two and the first test's one");
    assert.deepEqual(
      listed.slice(0, 2).map((i) => i.id),
      [newer.impressionId, older.impressionId],
    );
    for (let i = 1; i < listed.length; i++) assert.ok(listed[i - 1].createdAt >= listed[i].createdAt);
    // The first test's outcomes come with the list too (one outcome query for all of them).
    assert.deepEqual(
      listed[2].positions.map((p) => p.outcome?.attribution ?? null),
      ["EXPLICIT", "WINDOW", null, null],
    );

    const one = await gql<{ impressions: Impression[] }>(gw.url, IMPRESSIONS, {
      m: "m1",
      t: "job_apply",
      f: 1,
    });
    assert.deepEqual(
      one.data?.impressions.map((i) => i.id),
      [newer.impressionId],
    );
    const otherTask = await gql<{ impressions: Impression[] }>(gw.url, IMPRESSIONS, {
      m: "m1",
      t: "post_like",
    });
    assert.deepEqual(otherTask, { data: { impressions: [] } });
    const nobody = await gql<{ impressions: Impression[] }>(gw.url, IMPRESSIONS, { m: "nobody" });
    assert.deepEqual(nobody, { data: { impressions: [] } });
  });

  it("refuses a `first` out of range with BAD_USER_INPUT", async () => {
    for (const f of [0, 101]) {
      const r = await gql(gw.url, IMPRESSIONS, { m: "m1", f });
      assert.equal(r.data, null);
      assert.equal(r.errors?.[0].extensions?.code, "BAD_USER_INPUT", JSON.stringify(r.errors));
      assert.equal(r.errors?.[0].extensions?.argument, "first");
    }
  });
});
