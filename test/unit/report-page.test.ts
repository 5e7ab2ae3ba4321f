import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { storedHeadline } from "../../src/evaluation/stored-run";
import { withNav } from "../../src/server/report";
import { escapeHtml } from "../../src/util/html";

describe("the evaluation pages", () => {
  it("read the model's headline metrics from a stored run, and null for what is missing", () => {
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
    assert.deepEqual(storedHeadline(metrics), { auc: 0.71, ndcg: 0.42, k: 10 });
    assert.deepEqual(storedHeadline({ rankers: [{ name: "model", auc: null }] }), {
      auc: null,
      ndcg: null,
      k: null,
    });
    assert.deepEqual(storedHeadline({ rankers: [{ name: "popularity", auc: 0.7 }] }), {
      auc: null,
      ndcg: null,
      k: null,
    });
    for (const bad of [{}, null, [0.5], "x", { rankers: "x" }]) {
      assert.deepEqual(storedHeadline(bad), { auc: null, ndcg: null, k: null });
    }
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
