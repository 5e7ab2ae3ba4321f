import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { escapeHtml, headlineMetric, withNav } from "../../src/server/report";

const AUC = /auc/i;
const NDCG = /^ndcg/i;

describe("the evaluation pages", () => {
  it("find the model's headline metrics in the metrics JSON the evaluation writes (rankers as a named list)", () => {
    const metrics = {
      k: 10,
      lists: 4,
      rankers: [
        { name: "random", auc: 0.5, ndcg: 0.3, perAction: { APPLY: { auc: 0.49 } } },
        { name: "model", auc: 0.71, ndcg: 0.42, perAction: { APPLY: { auc: 0.8, ndcg: 0.6 } } },
      ],
      // Per budget: not the run's headline.
      historySweep: [{ budget: 0, auc: 0.9, ndcg: 0.9 }],
    };
    assert.deepEqual(headlineMetric(metrics, AUC), { value: 0.71, path: "rankers.model.auc" });
    assert.deepEqual(headlineMetric(metrics, NDCG), { value: 0.42, path: "rankers.model.ndcg" });
  });

  it("find them in other shapes too, and nothing where there is nothing", () => {
    assert.deepEqual(headlineMetric({ model: { auc: 0.6 }, popularity: { auc: 0.7 } }, AUC), {
      value: 0.6,
      path: "model.auc",
    });
    assert.deepEqual(headlineMetric({ "ndcg@10": 0.3 }, NDCG), { value: 0.3, path: "ndcg@10" });
    assert.equal(headlineMetric({ model: { auc: null } }, AUC), null);
    assert.equal(headlineMetric({}, AUC), null);
    assert.equal(headlineMetric(null, AUC), null);
    assert.equal(headlineMetric([0.5], AUC), null);
  });

  it("put their links first in a stored report's body, or after it when it has no body tag", () => {
    const o = { playground: true };
    const page = '<!doctype html><html><body class="r"><h1>x</h1></body></html>';
    const linked = withNav(page, o);
    assert.match(
      linked,
      /^<!doctype html><html><body class="r"><nav class="brewgate-nav"[^>]*>.*<\/nav><h1>x<\/h1>/,
    );
    assert.match(linked, /href="\/playground"/);
    assert.doesNotMatch(withNav(page, { playground: false }), /playground/);
    const bare = "<!doctype html><h1>x</h1>";
    assert.ok(withNav(bare, o).startsWith(`${bare}\n<nav`));
  });

  it("escape text for HTML", () => {
    assert.equal(escapeHtml(`<a href="x">'&'</a>`), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  });
});
