import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { JOB_APPLY_TASK } from "../../src/domain/task-definition";
import type { EvalList, EvalSource } from "../../src/evaluation/lists";
import { examplesOf, exportList, splitByTime } from "../../src/evaluation/training-export";
import type { BuiltPrompt } from "../../src/prompt/builder";

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1);

/** Ten lists, one a day, each of one item; list 3's outcome happened on day 7. */
function lists(): EvalList[] {
  return Array.from({ length: 10 }, (_, i) => ({
    id: `imp-${i}`,
    memberId: `m${i % 3}`,
    at: new Date(T0 + i * DAY),
    candidates: [
      {
        itemId: `job-${i}`,
        outcome: i % 2 === 0 ? "APPLY" : null,
        outcomeAt: i === 3 ? new Date(T0 + 7 * DAY) : i % 2 === 0 ? new Date(T0 + i * DAY + 60_000) : null,
      },
    ],
  }));
}

describe("splitByTime", { timeout: 10_000 }, () => {
  it("cuts by time, oldest first, at the fractions' quantiles", () => {
    // 0.6 / 0.2 / 0.2 of 10 lists: lists 0-5 train, 6-7 validation, 8-9 test. A half-day window
    // fits between consecutive days, so no list falls in a gap.
    const s = splitByTime([...lists()].reverse(), [0.6, 0.2, 0.2], DAY / 2);
    assert.deepEqual(
      s.lists.train.map((l) => l.id),
      ["imp-0", "imp-1", "imp-2", "imp-4", "imp-5"],
    );
    assert.deepEqual(
      s.lists.validation.map((l) => l.id),
      ["imp-6", "imp-7"],
    );
    assert.deepEqual(
      s.lists.test.map((l) => l.id),
      ["imp-8", "imp-9"],
    );
    assert.equal(s.validationFrom?.getTime(), T0 + 6 * DAY);
    assert.equal(s.testFrom?.getTime(), T0 + 8 * DAY);
    // imp-3's only position had its outcome on day 7, after validation began: dropped, and with
    // it the list (nothing left to learn from).
    assert.equal(s.lateOutcomes, 1);
    assert.equal(s.inGap, 0);
  });

  it("leaves out lists whose attribution window reaches into the next split", () => {
    // A 1.5-day window: day 5 (train) could still get an outcome on day 6.5, after validation
    // starts on day 6; day 7 (validation) likewise reaches past day 8.
    const s = splitByTime(lists(), [0.6, 0.2, 0.2], 1.5 * DAY);
    assert.deepEqual(
      s.lists.train.map((l) => l.id),
      ["imp-0", "imp-1", "imp-2", "imp-4"],
    );
    assert.deepEqual(
      s.lists.validation.map((l) => l.id),
      ["imp-6"],
    );
    assert.equal(s.inGap, 2);
  });

  it("no split learns from anything that happened after the next one began", () => {
    for (const window of [DAY / 4, DAY, 2.5 * DAY]) {
      const s = splitByTime(lists(), [0.5, 0.3, 0.2], window);
      const pairs: [EvalList[], Date | null][] = [
        [s.lists.train, s.validationFrom],
        [s.lists.validation, s.testFrom],
      ];
      for (const [earlier, next] of pairs) {
        for (const l of earlier) {
          assert.ok(next && l.at.getTime() + window <= next.getTime(), `${l.id} window crosses ${next}`);
          for (const c of l.candidates) {
            assert.ok(!c.outcomeAt || c.outcomeAt.getTime() <= (next as Date).getTime());
          }
        }
      }
    }
  });

  it("refuses fractions that do not add up to 1", () => {
    assert.throws(() => splitByTime(lists(), [0.5, 0.5, 0.5], DAY), /add up to 1/);
    assert.throws(() => splitByTime(lists(), [1.2, -0.1, -0.1], DAY), /add up to 1/);
  });
});

describe("examplesOf", { timeout: 10_000 }, () => {
  it("writes each position's prompt and the answer the member gave", async () => {
    const list: EvalList = {
      id: "imp-1",
      memberId: "m1",
      at: new Date(T0),
      candidates: [
        { itemId: "a", outcome: "APPLY" },
        { itemId: "b", outcome: null },
        { itemId: "c", outcome: "DISMISS" },
        { itemId: "d", outcome: "SAVE" },
      ],
    };
    const prompt: BuiltPrompt = {
      prefixText: "PREFIX\n",
      prefixIds: [1],
      candidates: ["a", "b", "c", "d"].map((id) => ({
        id,
        text: `Q(${id}) Answer: The member will`,
        ids: [2],
      })),
      labels: [],
      historyUsed: 2,
      historyAvailable: 5,
    };
    const source = {
      task: JOB_APPLY_TASK,
      prompt: async (l: EvalList) => {
        assert.equal(l, list);
        return prompt;
      },
    } as unknown as EvalSource;
    const ex = await examplesOf(source, list, "validation", "v1");
    assert.deepEqual(
      ex.map((e) => [e.itemId, e.position, e.prompt, e.completion, e.action, e.positive]),
      [
        ["a", 1, "PREFIX\nQ(a) Answer: The member will", " apply", "APPLY", true],
        ["b", 2, "PREFIX\nQ(b) Answer: The member will", null, null, false],
        ["c", 3, "PREFIX\nQ(c) Answer: The member will", " dismiss", "DISMISS", false],
        // An action the task has no answer for keeps its name but no completion.
        ["d", 4, "PREFIX\nQ(d) Answer: The member will", null, "SAVE", false],
      ],
    );
    assert.equal(ex[0].id, "imp-1:a");
    assert.equal(ex[0].split, "validation");
    assert.equal(ex[0].promptVersion, "v1");
    assert.equal(ex[0].historyUsed, 2);
  });
  it("writes the impression once as token ids: the prefix, each suffix, every answer label", async () => {
    const list: EvalList = {
      id: "imp-2",
      memberId: "m1",
      at: new Date(T0),
      candidates: [
        { itemId: "a", outcome: "VIEW" },
        { itemId: "b", outcome: null },
        { itemId: "c", outcome: "APPLY" },
      ],
    };
    const prompt: BuiltPrompt = {
      prefixText: "PREFIX\n",
      prefixIds: [100, 1, 2],
      candidates: [
        { id: "a", text: "Q(a)", ids: [3, 4] },
        { id: "b", text: "Q(b)", ids: [5] },
        { id: "c", text: "Q(c)", ids: [6, 7, 8] },
      ],
      // Not in the task's order: the export follows the task's actions.
      labels: [
        { action: "DISMISS", answer: "dismiss", positive: false, ids: [13] },
        { action: "APPLY", answer: "apply", positive: true, ids: [11] },
        { action: "VIEW", answer: "view", positive: false, ids: [12] },
      ],
      historyUsed: 1,
      historyAvailable: 1,
    };
    const source = { task: JOB_APPLY_TASK, prompt: async () => prompt } as unknown as EvalSource;
    const { examples, impression } = await exportList(source, list, "train", "v2");
    assert.equal(examples.length, 3);
    assert.deepEqual(impression.prefixIds, [100, 1, 2]);
    assert.equal(impression.prefix, "PREFIX\n");
    const order = JOB_APPLY_TASK.actions.map((a) => a.action);
    assert.deepEqual(
      impression.labels.map((l) => l.action),
      order,
    );
    const idOf: Record<string, number> = { APPLY: 11, VIEW: 12, DISMISS: 13 };
    assert.deepEqual(
      impression.labels.map((l) => [l.completion, l.positive, l.ids]),
      JOB_APPLY_TASK.actions.map((a) => [` ${a.answer}`, a.positive, [idOf[a.action]]]),
    );
    assert.deepEqual(
      impression.candidates.map((c) => [c.itemId, c.position, c.suffix, c.suffixIds, c.action, c.positive]),
      [
        ["a", 1, "Q(a)", [3, 4], "VIEW", false],
        ["b", 2, "Q(b)", [5], null, false],
        ["c", 3, "Q(c)", [6, 7, 8], "APPLY", true],
      ],
    );
    const answerOf = (c: { answer: number | null }) =>
      c.answer === null ? null : impression.labels[c.answer].action;
    assert.deepEqual(impression.candidates.map(answerOf), ["VIEW", null, "APPLY"]);
    assert.equal(impression.split, "train");
    assert.equal(impression.promptVersion, "v2");
    assert.equal(impression.shownAt, new Date(T0).toISOString());
  });
});
