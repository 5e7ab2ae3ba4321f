import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type SidecarProcess, startSidecar } from "../../dev/sidecar-process";
import { type Gateway, startGateway } from "../../src/gateway";
import { testConfig } from "../support/config";
import { gql } from "../support/graphql";
import { testModel } from "../support/models";
import { createTestDatabase, type TestDatabase } from "../support/postgres";
import { wsClient } from "../support/ws";

// A ranking needs the answers' probabilities renormalized over the task's answers only, so unless
// an operation selects `logprob` the sidecar computes the output layer for the answer rows alone
// (normalize=labels_only in its request log). The answer must not change.

type Item = {
  itemId: string;
  rank: number;
  score: number;
  actions: { action: string; probability: number; logprob?: number }[];
};
type Rec = { recommendations: { items: Item[] } };

const fields = (withLogprob: boolean) =>
  `items { rank score itemId actions { action probability ${withLogprob ? "logprob" : ""} } }`;
const REC = (withLogprob: boolean) =>
  `query($c: [ID!]) { recommendations(memberId: "m1", task: "job_apply", candidateIds: $c, first: 5) { ${fields(withLogprob)} } }`;
const REC_FRAGMENT = `query($c: [ID!]) { recommendations(memberId: "m1", task: "job_apply", candidateIds: $c, first: 5) {
  items { rank ... on RecommendationType { actions { ...Lp } } } } }
  fragment Lp on ActionProbabilityType { action logprob }`;
const SUB = (withLogprob: boolean) =>
  `subscription($c: [ID!]) { livePredictions(memberId: "m1", task: "job_apply", candidateIds: $c, first: 5) { ranking { ${fields(withLogprob)} } } }`;

const CANDIDATES = ["j0", "j1", "j2", "j3", "j4"];

describe("labels-only scoring unless logprob is asked for", () => {
  let pg: TestDatabase;
  let sidecar: SidecarProcess;
  let gw: Gateway;
  const normalize: string[] = [];

  before(async () => {
    [pg, sidecar] = await Promise.all([
      createTestDatabase(),
      startSidecar({
        modelDir: testModel(),
        threads: 1,
        kvBudgetMb: 64,
        onLog: (line) => {
          const m = /^score .*normalize=(\S+)/.exec(line);
          if (m) normalize.push(m[1]);
        },
      }),
    ]);
    gw = await startGateway(
      testConfig({ DATABASE_URL: pg.url, MODEL_DIR: testModel(), INFERENCE_ADDRESSES: sidecar.address }),
    );
    await gw.db.member.create({ data: { id: "m1", currentPosition: "nurse", location: "Lyon" } });
    for (let i = 0; i < 5; i++) {
      await gw.db.item.create({
        data: { id: `j${i}`, type: "JOB", title: `Nurse ${i}`, company: `Clinic ${i}`, location: "Lyon" },
      });
    }
  });
  after(async () => {
    await gw?.stop();
    await sidecar?.stop();
    await pg?.drop();
  });

  /** Runs `fn` and returns the normalize values the sidecar logged for its Score calls. */
  async function logged(fn: () => Promise<void>): Promise<string[]> {
    const from = normalize.length;
    await fn();
    // The log line is written when the engine finishes, just before the answer goes out.
    for (let i = 0; i < 50 && normalize.length === from; i++) await new Promise((r) => setTimeout(r, 20));
    return normalize.slice(from);
  }

  it("gives the same ranking, scores and probabilities either way", async () => {
    let full: Item[] = [];
    let labels: Item[] = [];
    assert.deepEqual(
      await logged(async () => {
        const r = await gql<Rec>(gw.url, REC(true), { c: CANDIDATES });
        assert.equal(r.errors, undefined, JSON.stringify(r.errors));
        full = r.data?.recommendations.items ?? [];
      }),
      ["full_vocab"],
    );
    assert.deepEqual(
      await logged(async () => {
        const r = await gql<Rec>(gw.url, REC(false), { c: CANDIDATES });
        assert.equal(r.errors, undefined, JSON.stringify(r.errors));
        labels = r.data?.recommendations.items ?? [];
      }),
      ["labels_only"],
    );
    assert.equal(full.length, 5);
    assert.deepEqual(
      labels.map((i) => i.itemId),
      full.map((i) => i.itemId),
    );
    for (const [k, item] of labels.entries()) {
      assert.ok(
        Math.abs(item.score - full[k].score) < 1e-6,
        `${item.itemId}: ${item.score} vs ${full[k].score}`,
      );
      for (const [a, action] of item.actions.entries()) {
        assert.ok(Math.abs(action.probability - full[k].actions[a].probability) < 1e-6);
        assert.equal(action.logprob, undefined);
      }
      // Full-vocabulary log-probs are below the label-renormalized ones: the answers are not all the mass.
      for (const action of full[k].actions) assert.ok((action.logprob ?? 0) < Math.log(action.probability));
    }
  });

  it("scores over the whole vocabulary when logprob is selected through a fragment", async () => {
    assert.deepEqual(
      await logged(async () => {
        const r = await gql<Rec>(gw.url, REC_FRAGMENT, { c: CANDIDATES });
        assert.equal(r.errors, undefined, JSON.stringify(r.errors));
        assert.equal(typeof r.data?.recommendations.items[0].actions[0].logprob, "number");
      }),
      ["full_vocab"],
    );
  });

  it("does the same for livePredictions over WebSocket", async () => {
    for (const withLogprob of [false, true]) {
      const client = wsClient(gw.url);
      try {
        const seen = await logged(async () => {
          const it = client.iterate<{ livePredictions: { ranking: { items: Item[] } } }>({
            query: SUB(withLogprob),
            variables: { c: CANDIDATES },
          });
          const first = await it.next();
          await it.return?.(undefined);
          const items = first.value?.data?.livePredictions.ranking.items ?? [];
          assert.equal(items.length, 5, JSON.stringify(first.value));
          assert.equal(typeof items[0].actions[0].logprob, withLogprob ? "number" : "undefined");
        });
        assert.deepEqual(seen, [withLogprob ? "full_vocab" : "labels_only"]);
      } finally {
        await client.dispose();
      }
    }
  });
});
