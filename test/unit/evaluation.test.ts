import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { JOB_APPLY_TASK, type TaskDefinition } from "../../src/domain/task-definition";
import { datasetSource, readDataset } from "../../src/evaluation/dataset-source";
import type { EvalList, EvalSource } from "../../src/evaluation/lists";
import {
  baselinesFor,
  oracleBaseline,
  popularityBaseline,
  randomBaseline,
  recencyBaseline,
} from "../../src/evaluation/rankers";
import { renderReport } from "../../src/evaluation/report";
import type { EvaluationResult } from "../../src/evaluation/run";
import { type RankerRun, summarize } from "../../src/evaluation/summarize";
import { TextTokenizer } from "../../src/prompt/tokenizer";
import { testModel } from "../support/models";

const close = (actual: number | null | undefined, expected: number, what = "") =>
  assert.ok(
    actual !== null && actual !== undefined && Math.abs(actual - expected) < 1e-12,
    `${what}: ${actual} != ${expected}`,
  );

const list = (id: string, outcomes: (string | null)[], items?: string[]): EvalList => ({
  id,
  memberId: "m1",
  at: new Date(Date.UTC(2026, 5, 1)),
  candidates: outcomes.map((outcome, i) => ({ itemId: items?.[i] ?? `${id}-${i}`, outcome })),
});

// Two lists under job_apply (APPLY positive; VIEW, DISMISS not). L1 has two positives; L2 has
// none, so it is left out of the task's NDCG/recall.
//   L1 outcomes: [APPLY, none, VIEW, APPLY]
//   L2 outcomes: [none, DISMISS, VIEW]
const LISTS = [list("L1", ["APPLY", null, "VIEW", "APPLY"]), list("L2", [null, "DISMISS", "VIEW"])];

// P predicts probabilities; its score is its P(APPLY) (the positive mass).
const P_APPLY = [
  [0.9, 0.4, 0.2, 0.4],
  [0.1, 0.2, 0.05],
];
const P_VIEW = [
  [0.05, 0.3, 0.5, 0.3],
  [0.75, 0.3, 0.7],
];
const P_DISMISS = [
  [0.05, 0.3, 0.3, 0.3],
  [0.15, 0.5, 0.25],
];
const P: RankerRun = {
  name: "P",
  describe: "probabilistic",
  lists: [0, 1].map((i) => ({
    scores: P_APPLY[i],
    probabilities: { APPLY: P_APPLY[i], VIEW: P_VIEW[i], DISMISS: P_DISMISS[i] },
  })),
};
// Q gives one score per candidate and no probabilities.
const Q: RankerRun = {
  name: "Q",
  describe: "scores only",
  lists: [{ scores: [2, 5, 1, 5] }, { scores: [4, 0, 3] }],
};

const ln = Math.log;
const IDCG2 = 1 + 1 / Math.log2(3); // two relevant items in the top 2

describe("offline evaluation: summaries, baselines, datasets, report", { timeout: 60_000 }, () => {
  const summary = summarize(JOB_APPLY_TASK, LISTS, [P, Q], 2);
  const [p, q] = summary.rankers;

  it("counts lists, positions and outcomes", () => {
    assert.equal(summary.k, 2);
    assert.equal(summary.lists, 2);
    assert.equal(summary.positions, 7);
    assert.deepEqual(summary.outcomes, { none: 2, APPLY: 2, VIEW: 2, DISMISS: 1 });
    assert.deepEqual(
      summary.rankers.map((r) => [r.name, r.describe]),
      [
        ["P", "probabilistic"],
        ["Q", "scores only"],
      ],
    );
  });

  it("a probabilistic ranker: pooled AUC with a tie, NDCG@k and recall@k, log loss, ECE", () => {
    assert.equal(p.positives, 2);
    // Positives 0.9 and 0.4 (L1); negatives 0.4, 0.2 (L1), 0.1, 0.2, 0.05 (L2): 10 pairs.
    // 0.9 beats all 5; 0.4 ties 0.4 (one half) and beats the other 4: (5 + 4.5) / 10.
    close(p.auc, 0.95, "P auc");
    // L1 ranked (ties in shown order): 0.9 (APPLY), 0.4 (none), 0.4 (APPLY), 0.2: relevance
    // 1,0,1,0. DCG@2 = 1/log2(2) = 1; ideal 1 + 1/log2(3). L2 has no APPLY: left out.
    close(p.ndcg, 1 / IDCG2, "P ndcg");
    close(p.recall, 0.5, "P recall"); // one of L1's two APPLYs in its top 2
    assert.equal(p.lists, 1);
    assert.equal(p.listsWithout, 1);
    // -mean log-likelihood of [T,F,F,T,F,F,F] under [0.9,0.4,0.2,0.4,0.1,0.2,0.05].
    close(
      p.logLoss,
      -(ln(0.9) + ln(0.6) + ln(0.8) + ln(0.4) + ln(0.9) + ln(0.8) + ln(0.95)) / 7,
      "P log loss",
    );
    // Bins of width 0.1: [0.9]:T |1-0.9|=0.1; [0.4,0.4]:F,T |1-0.8|=0.2; [0.2,0.2]:F,F 0.4;
    // [0.1]:F 0.1; [0.05]:F 0.05. ECE = (0.1 + 0.2 + 0.4 + 0.1 + 0.05) / 7.
    close(p.ece, 0.85 / 7, "P ece");
    const bin4 = p.reliability?.[4];
    assert.deepEqual([bin4?.count, bin4?.observedRate], [2, 0.5]);
    close(bin4?.meanPredicted, 0.4, "bin 4 mean");
    assert.equal(
      p.reliability?.reduce((n, b) => n + b.count, 0),
      7,
    );
  });

  it("a probabilistic ranker per action ranks by its probability of that action", () => {
    const view = p.perAction.VIEW;
    assert.equal(view.positives, 2);
    // VIEW positives 0.5 (L1) and 0.7 (L2); negatives 0.05, 0.3, 0.3 (L1), 0.75, 0.3 (L2).
    // 0.5 beats 0.05 and the three 0.3s (4); 0.7 the same 4, loses to 0.75: 8 / 10.
    close(view.auc, 0.8, "VIEW auc");
    // L1 by VIEW: 0.5 (VIEW) first: NDCG 1. L2: 0.75 (none), 0.7 (VIEW): 1/log2(3) over 1.
    close(view.ndcg, (1 + 1 / Math.log2(3)) / 2, "VIEW ndcg");
    close(view.recall, 1, "VIEW recall");
    assert.deepEqual([view.lists, view.listsWithout], [2, 0]);
    // Labels F,F,T,F,F,F,T under 0.05,0.3,0.5,0.3,0.75,0.3,0.7.
    close(
      view.logLoss,
      -(ln(0.95) + ln(0.7) + ln(0.5) + ln(0.7) + ln(0.25) + ln(0.7) + ln(0.7)) / 7,
      "VIEW log loss",
    );
    // Bins: [0.05]:F 0.05; [0.3,0.3,0.3]:F 0.9; [0.5]:T 0.5; [0.75,0.7]:F,T |1-1.45|=0.45.
    close(view.ece, (0.05 + 0.9 + 0.5 + 0.45) / 7, "VIEW ece");
    const dismiss = p.perAction.DISMISS;
    // One DISMISS (0.5), above every other DISMISS probability; only L2 has one.
    assert.deepEqual(
      [dismiss.positives, dismiss.auc, dismiss.ndcg, dismiss.recall, dismiss.lists, dismiss.listsWithout],
      [1, 1, 1, 1, 1, 1],
    );
    // APPLY is the task's only positive action: the same as the task's metrics.
    close(p.perAction.APPLY.auc, 0.95, "APPLY auc");
    close(p.perAction.APPLY.ndcg, 1 / IDCG2, "APPLY ndcg");
  });

  it("a ranker without probabilities gets ranking metrics only, per action by its one score", () => {
    // Positives 2 and 5; negatives 5, 1 (L1), 4, 0, 3 (L2). 2 beats 1 and 0 (2); 5 ties 5
    // (one half) and beats 1, 4, 0, 3 (4): 6.5 / 10.
    close(q.auc, 0.65, "Q auc");
    // L1 ranked: 5 (none, shown first), 5 (APPLY), 2 (APPLY), 1: DCG@2 = 1/log2(3).
    close(q.ndcg, 1 / Math.log2(3) / IDCG2, "Q ndcg");
    close(q.recall, 0.5, "Q recall");
    assert.deepEqual([q.lists, q.listsWithout], [1, 1]);
    assert.equal(q.logLoss, undefined);
    assert.equal(q.ece, undefined);
    assert.equal(q.reliability, undefined);
    const view = q.perAction.VIEW;
    // VIEW positives score 1 (L1) and 3 (L2); negatives 2, 5, 5, 4, 0. 1 beats 0; 3 beats 2, 0.
    close(view.auc, 0.3, "Q VIEW auc");
    // L1: the VIEW is last (NDCG 0, recall 0); L2: 4 (none), 3 (VIEW): 1/log2(3), recall 1.
    close(view.ndcg, 1 / Math.log2(3) / 2, "Q VIEW ndcg");
    close(view.recall, 0.5, "Q VIEW recall");
    assert.equal(view.logLoss, undefined);
  });

  it("random is seeded per (seed, list, item); popularity and recency read the source", async () => {
    const a = list("A", [null, null, null], ["x", "y", "z"]);
    const r1 = await randomBaseline(1).score(a);
    assert.deepEqual(await randomBaseline(1).score(a), r1);
    assert.ok(r1.scores.every((s) => s >= 0 && s < 1));
    assert.equal(new Set(r1.scores).size, 3);
    // The same item in the same list scores the same wherever it is shown.
    const reordered = await randomBaseline(1).score(list("A", [null, null], ["z", "x"]));
    assert.deepEqual(reordered.scores, [r1.scores[2], r1.scores[0]]);
    // Another seed, or another list, draws anew.
    const r2 = await randomBaseline(2).score(a);
    assert.ok(r2.scores.every((s, i) => s !== r1.scores[i]));
    const other = await randomBaseline(1).score(list("B", [null, null, null], ["x", "y", "z"]));
    assert.ok(other.scores.every((s, i) => s !== r1.scores[i]));

    const asked: string[] = [];
    const source = {
      popularity: async (l: EvalList) => {
        asked.push(`popularity ${l.id}`);
        return new Map([
          ["x", 3],
          ["z", 7],
        ]);
      },
      createdAt: async (l: EvalList) => {
        asked.push(`createdAt ${l.id}`);
        return new Map([["y", 1000]]);
      },
    } as unknown as EvalSource;
    assert.deepEqual((await popularityBaseline(source).score(a)).scores, [3, 0, 7]);
    assert.deepEqual((await recencyBaseline(source).score(a)).scores, [-1, 1000, -1]);
    assert.deepEqual(asked, ["popularity A", "createdAt A"]);
  });

  it("the oracle sums the positive actions' true probabilities; baselinesFor adds it only with them", async () => {
    // A task where APPLY and VIEW both count.
    const task: TaskDefinition = {
      ...JOB_APPLY_TASK,
      actions: JOB_APPLY_TASK.actions.map((x) => ({ ...x, positive: x.action !== "DISMISS" })),
    };
    const l: EvalList = {
      ...list("O", [null, null]),
      candidates: [
        { itemId: "x", outcome: null, trueProbabilities: { APPLY: 0.25, VIEW: 0.5, DISMISS: 0.125 } },
        { itemId: "y", outcome: "APPLY", trueProbabilities: { APPLY: 0.5 } },
      ],
    };
    const o = await oracleBaseline(task).score(l);
    assert.deepEqual(o.scores, [0.75, 0.5]);
    assert.deepEqual(o.probabilities, { APPLY: [0.25, 0.5], VIEW: [0.5, 0], DISMISS: [0.125, 0] });
    // Under job_apply only APPLY counts.
    assert.deepEqual((await oracleBaseline(JOB_APPLY_TASK).score(l)).scores, [0.25, 0.5]);

    const sourceOf = (lists: EvalList[]) => ({ task, lists }) as unknown as EvalSource;
    const names = (lists: EvalList[]) => baselinesFor(sourceOf(lists), 1).map((b) => b.name);
    assert.deepEqual(names([l, l]), ["random", "popularity", "recency", "oracle"]);
    const partly: EvalList = { ...l, candidates: [l.candidates[0], { itemId: "y", outcome: null }] };
    assert.deepEqual(names([l, partly]), ["random", "popularity", "recency"]);
    assert.deepEqual(names([]), ["random", "popularity", "recency"]);
    assert.match(baselinesFor(sourceOf([l]), 42)[0].describe, /seed 42/);
  });

  describe("dataset files", () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), "brewgate-eval-unit-"));
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    const job = (id: string, extra: Record<string, unknown> = {}) => ({ id, title: `Job ${id}`, ...extra });
    const line = (id: string, at: string, extra: Record<string, unknown> = {}) => ({
      id,
      at,
      member: { id: "m1", currentPosition: "software engineer" },
      history: [{ action: "APPLY", occurredAt: "2026-02-01T00:00:00Z", item: job("h1") }],
      candidates: [
        { item: job("c1"), outcome: "APPLY" },
        { item: job("c2"), outcome: null },
      ],
      ...extra,
    });
    const write = async (name: string, lines: (object | string)[]) => {
      const path = join(dir, name);
      await writeFile(
        path,
        lines.map((l) => (typeof l === "string" ? l : JSON.stringify(l))).join("\n"),
        "utf8",
      );
      return path;
    };

    it("reads a good file, blank lines skipped", async () => {
      const path = await write("good.jsonl", [
        line("a", "2026-03-01T00:00:00Z"),
        "",
        line("b", "2026-03-02T00:00:00+02:00", {
          candidates: [
            { item: job("c1"), outcome: null, trueProbabilities: { APPLY: 0.1 } },
            {
              item: job("c3", { createdAt: "2026-01-05T00:00:00Z" }),
              outcome: "VIEW",
              trueProbabilities: {},
            },
          ],
        }),
        "",
      ]);
      const data = await readDataset(path);
      assert.deepEqual(
        data.map((d) => [d.id, d.candidates.map((c) => c.item.id), d.history.length]),
        [
          ["a", ["c1", "c2"], 1],
          ["b", ["c1", "c3"], 1],
        ],
      );
      // history is optional.
      const { history: _, ...noHistory } = line("c", "2026-03-01T00:00:00Z");
      const data2 = await readDataset(await write("no-history.jsonl", [noHistory]));
      assert.deepEqual(data2[0].history, []);
    });

    it("names the file, line and field of each kind of bad line", async () => {
      const good = line("a", "2026-03-01T00:00:00Z");
      const cases: [string, (object | string)[], RegExp][] = [
        ["not-json", [good, "{not json"], /not-json\.jsonl:2: not JSON/],
        [
          "missing-title",
          [good, "", { ...good, id: "b", candidates: [{ item: { id: "c9" }, outcome: null }] }],
          /missing-title\.jsonl:3: candidates\.0\.item\.title: /,
        ],
        ["missing-member", [{ ...good, member: undefined }], /missing-member\.jsonl:1: member: /],
        ["bad-time", [{ ...good, at: "yesterday" }], /bad-time\.jsonl:1: at: /],
        [
          "duplicate-id",
          [good, line("b", good.at), line("a", good.at)],
          /duplicate-id\.jsonl:3: list id 'a' appears twice/,
        ],
        [
          "repeated-item",
          [{ ...good, candidates: [good.candidates[0], { item: job("c1"), outcome: null }] }],
          /repeated-item\.jsonl:1: candidates repeat an item/,
        ],
        [
          "partial-truth",
          [
            good,
            {
              ...good,
              id: "b",
              candidates: [{ ...good.candidates[0], trueProbabilities: { APPLY: 0.2 } }, good.candidates[1]],
            },
          ],
          /partial-truth\.jsonl:2: trueProbabilities must be on every candidate or none/,
        ],
        [
          "probability-range",
          [{ ...good, candidates: [{ ...good.candidates[0], trueProbabilities: { APPLY: 1.5 } }] }],
          /probability-range\.jsonl:1: candidates\.0\.trueProbabilities\.APPLY: /,
        ],
        ["empty", ["", "  "], /empty\.jsonl: no lists/],
      ];
      for (const [name, lines, expected] of cases) {
        const path = await write(`${name}.jsonl`, lines);
        await assert.rejects(readDataset(path), (err: Error) => {
          assert.match(err.message, expected, name);
          assert.ok(err.message.startsWith(path), `${name}: ${err.message} does not start with the path`);
          return true;
        });
      }
    });

    it("counts an item's popularity from distinct history events before the list's time", async () => {
      const tk = await TextTokenizer.fromFile(join(testModel(), "tokenizer.json"));
      const ev = (item: string, occurredAt: string, action = "APPLY") => ({
        action,
        occurredAt,
        item: job(item),
      });
      const path = await write("popularity.jsonl", [
        // c1: one event on 02-01, repeated verbatim in both lines (counted once), one on 03-05.
        line("early", "2026-03-01T00:00:00Z", {
          history: [ev("c1", "2026-02-01T00:00:00Z"), ev("c2", "2026-03-01T00:00:00Z")],
        }),
        line("late", "2026-03-10T00:00:00Z", {
          history: [ev("c1", "2026-02-01T00:00:00Z"), ev("c1", "2026-03-05T00:00:00Z", "VIEW")],
          candidates: [
            { item: job("c1", { createdAt: "2026-01-01T00:00:00Z" }), outcome: null },
            { item: job("c2"), outcome: "APPLY" },
          ],
        }),
      ]);
      const source = await datasetSource(path, {
        tokenizer: tk,
        task: JOB_APPLY_TASK,
        maxPrefixTokens: 2048,
        maxContextTokens: 4096,
      });
      assert.equal(source.name, "dataset:popularity.jsonl");
      const [early, late] = source.lists;
      // At 03-01: c1's 02-01 event; c2's event at exactly 03-01 is not before it.
      assert.deepEqual(
        [...(await source.popularity(early))],
        [
          ["c1", 1],
          ["c2", 0],
        ],
      );
      // At 03-10: c1's 02-01 (once) and 03-05 events; c2's 03-01 event.
      assert.deepEqual(
        [...(await source.popularity(late))],
        [
          ["c1", 2],
          ["c2", 1],
        ],
      );
      assert.deepEqual([...(await source.createdAt(late))], [["c1", Date.parse("2026-01-01T00:00:00Z")]]);
      assert.equal(source.dataFrom?.toISOString(), "2026-03-01T00:00:00.000Z");
      assert.equal(source.dataTo?.getTime(), Date.parse("2026-03-10T00:00:00Z") + 1);
    });
  });

  it("renders a self-contained report that escapes what it shows and lists earlier runs", () => {
    const name = '<b>&"';
    const result: EvaluationResult = {
      task: "job_apply",
      model: name,
      promptVersion: "pv-1",
      source: "dataset:x.jsonl",
      dataFrom: new Date(Date.UTC(2026, 2, 1)),
      dataTo: new Date(Date.UTC(2026, 2, 2)),
      summary: summarize(JOB_APPLY_TASK, LISTS, [{ ...P, name: "model", describe: `${name} model` }, Q], 2),
      historySweep: [
        { budget: 0, auc: 0.6, ndcg: 0.5, recall: 0.5, logLoss: 0.7, historyUsed: 0 },
        { budget: null, auc: 0.95, ndcg: 0.61, recall: 0.5, logLoss: 0.3, historyUsed: 2.5 },
      ],
      skipped: [{ listId: "L9", reason: "unknown candidate items: <i>" }],
      usage: { promptTokens: 10, cachedTokens: 0, computedTokens: 10 },
      durationMs: 1234,
    };
    const html = renderReport({
      runId: "run-3",
      createdAt: new Date(Date.UTC(2026, 2, 3)),
      result,
      history: [
        {
          id: "run-2",
          createdAt: new Date(Date.UTC(2026, 2, 2)),
          model: "older-model",
          promptVersion: "pv-0",
          source: "impressions",
          auc: 0.6125,
          ndcg: null,
        },
        {
          id: "run-1",
          createdAt: new Date(Date.UTC(2026, 2, 1)),
          model: "oldest-model",
          promptVersion: "pv-0",
          source: "dataset:y.jsonl",
          auc: 0.5,
          ndcg: 0.25,
        },
      ],
      notes: ["random weights & all"],
    });
    assert.match(html, /^<!doctype html>/);
    assert.match(html, /<svg /);
    assert.doesNotMatch(html, /<script/i);
    assert.doesNotMatch(html, /(src|href)="http/);
    assert.ok(!html.includes(name), "the model name is not escaped");
    assert.ok(html.includes("&lt;b&gt;&amp;&quot;"));
    assert.ok(html.includes("unknown candidate items: &lt;i&gt;"));
    assert.ok(html.includes("random weights &amp; all"));
    // The model's row: AUC 0.95.
    assert.match(html, /<tr><th>model<\/th><td>0\.9500<\/td>/);
    // The runs table: this run (#3) first, then the earlier ones, newest first.
    const runs = html.slice(html.indexOf("Runs of this task"));
    const rows = [
      ...runs.matchAll(/<tr( class="this")?><td>#(\d)<\/td><td>([^<]*)<\/td><td>([^<]*)<\/td>/g),
    ].map((m) => [m[2], m[3], m[4], m[1] !== undefined]);
    assert.deepEqual(rows, [
      ["3", "2026-03-03T00:00:00.000Z", "&lt;b&gt;&amp;&quot;", true],
      ["2", "2026-03-02T00:00:00.000Z", "older-model", false],
      ["1", "2026-03-01T00:00:00.000Z", "oldest-model", false],
    ]);
    assert.ok(runs.includes("<td>dataset:y.jsonl</td><td>0.5000</td><td>0.2500</td>"));
    assert.ok(runs.includes("<td>impressions</td><td>0.6125</td><td>–</td>"));
    // Three runs: a chart over them.
    assert.match(runs, /model AUC and NDCG over runs/);
    // The history sweep's rows.
    assert.match(html, /<th>0 tokens<\/th><td>0\.6000<\/td>/);
    assert.match(html, /<th>task budget<\/th><td>0\.9500<\/td>/);
  });
});
