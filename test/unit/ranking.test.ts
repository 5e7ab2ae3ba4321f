import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { rankCandidates } from "../../src/ranking/rank";

const labels = [
  { action: "APPLY", answer: "apply", positive: true, ids: [1] },
  { action: "VIEW", answer: "view", positive: false, ids: [2] },
  { action: "DISMISS", answer: "dismiss", positive: false, ids: [3] },
];

describe("ranking from answer log-probabilities", () => {
  it("scores by the positive answers' share and ranks best first", () => {
    const r = rankCandidates(labels, [
      { id: "a", labelLogprobs: [Math.log(0.1), Math.log(0.1), Math.log(0.2)] },
      { id: "b", labelLogprobs: [Math.log(0.3), Math.log(0.1), Math.log(0.1)] },
    ]);
    assert.deepEqual(
      r.map((c) => [c.itemId, c.rank]),
      [
        ["b", 1],
        ["a", 2],
      ],
    );
    assert.ok(Math.abs(r[0].score - 0.6) < 1e-12);
    assert.ok(Math.abs(r[1].score - 0.25) < 1e-12);
    const sum = r[0].actions.reduce((s, a) => s + a.probability, 0);
    assert.ok(Math.abs(sum - 1) < 1e-12);
    assert.equal(r[0].actions[0].logprob, Math.log(0.3));
  });

  it("sums several positive answers, survives very small log-probabilities and keeps input order on ties", () => {
    const two = [labels[0], { ...labels[1], positive: true }, labels[2]];
    const r = rankCandidates(two, [
      { id: "x", labelLogprobs: [-1000, -1000, -1000] },
      { id: "y", labelLogprobs: [-1000, -1000, -1000] },
    ]);
    assert.deepEqual(
      r.map((c) => c.itemId),
      ["x", "y"],
    );
    assert.ok(Math.abs(r[0].score - 2 / 3) < 1e-12);
  });

  it("refuses a response whose label count does not match", () => {
    assert.throws(
      () => rankCandidates(labels, [{ id: "a", labelLogprobs: [0, 0] }]),
      /2 label log-probabilities for 3 labels/,
    );
  });
});
