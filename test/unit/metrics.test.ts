import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  calibration,
  logLoss,
  meanOverLists,
  ndcgAtK,
  rankedOrder,
  recallAtK,
  rocAuc,
} from "../../src/evaluation/metrics";

const close = (actual: number | null, expected: number, what = "") =>
  assert.ok(actual !== null && Math.abs(actual - expected) < 1e-12, `${what} ${actual} != ${expected}`);

// Every expected value below is worked out by hand in the comment beside it.
describe("evaluation metrics", () => {
  it("ROC AUC counts the pairs a positive wins, a tie as one half", () => {
    // Positive 0.9 beats both negatives (2); positive 0.7 beats 0.6, loses to 0.8 (1): 3 of 4 pairs.
    close(rocAuc([0.9, 0.8, 0.7, 0.6], [true, false, true, false]), 0.75);
    // Positive 0.8 beats both (2); positive 0.5 ties the negative 0.5 (0.5) and beats 0.2 (1): 3.5 of 4.
    close(rocAuc([0.8, 0.5, 0.5, 0.2], [true, true, false, false]), 0.875);
    // All equal: every pair a tie.
    close(rocAuc([0.3, 0.3, 0.3], [true, false, false]), 0.5);
    // Perfectly wrong.
    close(rocAuc([0.1, 0.9], [true, false]), 0);
    // Order of the input does not matter.
    close(rocAuc([0.6, 0.7, 0.8, 0.9], [false, true, false, true]), 0.75);
  });

  it("ROC AUC is undefined without both classes", () => {
    assert.equal(rocAuc([0.2, 0.4], [true, true]), null);
    assert.equal(rocAuc([0.2, 0.4], [false, false]), null);
    assert.equal(rocAuc([], []), null);
    assert.throws(() => rocAuc([0.1], [true, false]), /1 scores for 2 labels/);
  });

  it("ranks a list by score, equal scores in the order they came", () => {
    assert.deepEqual(rankedOrder([0.2, 0.9, 0.2, 0.5]), [1, 3, 0, 2]);
  });

  it("NDCG@k against the ideal order of the same list", () => {
    // Ranked relevances [0, 1, 1]: DCG = 1/log2(3) + 1/log2(4); ideal [1, 1, 0]: 1 + 1/log2(3).
    close(ndcgAtK([0.9, 0.5, 0.1], [0, 1, 1], 3), (1 / Math.log2(3) + 0.5) / (1 + 1 / Math.log2(3)));
    close(ndcgAtK([0.9, 0.5, 0.1], [0, 1, 1], 3), 0.6934264036172708);
    // Graded, k = 2: ranked [1, 2] gives (2^1-1) + (2^2-1)/log2(3); ideal [2, 1] gives 3 + 1/log2(3).
    close(ndcgAtK([3, 2, 1], [1, 2, 0], 2), 0.7967075809905066);
    // The relevant item below the cut: nothing gained in the top 1.
    close(ndcgAtK([0.9, 0.5], [0, 1], 1), 0);
    close(ndcgAtK([0.5, 0.9], [0, 1], 1), 1);
    // Ties keep input order: the relevant item second of two equal scores is at position 2.
    close(ndcgAtK([0.5, 0.5], [0, 1], 2), 1 / Math.log2(3));
  });

  it("recall@k: the share of a list's relevant items in its top k", () => {
    // Top 2 of [0.9, 0.8, 0.7, 0.1] are items 0 and 1; relevant are 1 and 3: one of two.
    close(recallAtK([0.9, 0.8, 0.7, 0.1], [false, true, false, true], 2), 0.5);
    close(recallAtK([0.9, 0.8, 0.7, 0.1], [false, true, false, true], 4), 1);
  });

  it("a list with nothing relevant has no NDCG or recall, and averages leave it out and count it", () => {
    assert.equal(ndcgAtK([0.9, 0.1], [0, 0], 10), null);
    assert.equal(recallAtK([0.9, 0.1], [false, false], 10), null);
    assert.deepEqual(meanOverLists([1, null, 0.5]), { mean: 0.75, lists: 2, skipped: 1 });
    assert.deepEqual(meanOverLists([null]), { mean: null, lists: 0, skipped: 1 });
  });

  it("log loss: mean negative log-likelihood, probabilities clipped", () => {
    // -(ln 0.9 + ln 0.8) / 2
    close(logLoss([0.9, 0.2], [true, false]), 0.164252033486018);
    // A certain and wrong prediction costs -ln(1e-15), not infinity.
    close(logLoss([0], [true]), -Math.log(1e-15));
    assert.equal(logLoss([], []), null);
  });

  it("calibration: the reliability table and the expected calibration error", () => {
    // Two bins. [0, 0.5): predictions 0.1, 0.3 (mean 0.2), labels 0, 1 (rate 0.5);
    // [0.5, 1]: 0.6, 0.8 (mean 0.7), labels 1, 1 (rate 1). ECE = 0.5 * 0.3 + 0.5 * 0.3 = 0.3.
    const c = calibration([0.1, 0.3, 0.6, 0.8], [false, true, true, true], 2);
    close(c.ece, 0.3);
    assert.equal(c.bins.length, 2);
    assert.equal(c.bins[0].count, 2);
    close(c.bins[0].meanPredicted, 0.2);
    close(c.bins[0].observedRate, 0.5);
    close(c.bins[1].meanPredicted, 0.7);
    close(c.bins[1].observedRate, 1);
    // 1.0 falls in the last bin; an empty bin has no means.
    const edge = calibration([1, 1], [true, true], 4);
    assert.equal(edge.bins[3].count, 2);
    assert.equal(edge.bins[0].meanPredicted, null);
    close(edge.ece, 0);
    assert.equal(calibration([], [], 10).ece, null);
    assert.throws(() => calibration([1.5], [true], 2), /outside \[0, 1\]/);
  });
});
