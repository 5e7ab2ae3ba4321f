import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { describeIssues, interactionEvent, itemEvent } from "../../src/domain/events";
import { JOB_APPLY_TASK, taskDefinition } from "../../src/domain/task-definition";

describe("event schemas", () => {
  const ok = {
    eventId: "e1",
    memberId: "m1",
    itemId: "j1",
    action: "APPLY",
    occurredAt: "2026-01-02T03:04:05Z",
  };

  it("accepts a valid interaction and coerces its time", () => {
    const parsed = interactionEvent.parse(ok);
    assert.equal(parsed.occurredAt.toISOString(), "2026-01-02T03:04:05.000Z");
    assert.equal(parsed.impressionId, undefined);
    assert.equal(interactionEvent.parse({ ...ok, impressionId: "imp-1" }).impressionId, "imp-1");
    assert.match(
      describeIssues(interactionEvent.safeParse({ ...ok, impressionId: " " }).error as never),
      /impressionId: must not be empty/,
    );
  });

  it("names each bad field", () => {
    const r = interactionEvent.safeParse({ ...ok, action: "apply", occurredAt: "yesterday", memberId: "" });
    assert.equal(r.success, false);
    const text = describeIssues(r.error as never);
    assert.match(text, /memberId: must not be empty/);
    assert.match(text, /action: must be an upper-case action code/);
    assert.match(text, /occurredAt:/);
  });

  it("takes an item's posting time, and names the field when it is not a date-time", () => {
    const ok = itemEvent.parse({ id: "j1", type: "JOB", title: "T", postedAt: "2026-01-02T03:04:05Z" });
    assert.equal(ok.postedAt?.toISOString(), "2026-01-02T03:04:05.000Z");
    assert.equal(itemEvent.parse({ id: "j1", type: "JOB", title: "T" }).postedAt, undefined);
    const bad = itemEvent.safeParse({ id: "j1", type: "JOB", title: "T", postedAt: "last tuesday" });
    assert.match(describeIssues(bad.error as never), /^postedAt: must be a date-time$/);
  });

  it("rejects nested attribute values on items", () => {
    const r = itemEvent.safeParse({ id: "j1", type: "JOB", title: "T", attributes: { a: { b: 1 } } });
    assert.equal(r.success, false);
  });

  it("accepts the built-in task and rejects a task without a positive answer or with duplicate answers", () => {
    assert.equal(taskDefinition.safeParse(JOB_APPLY_TASK).success, true);
    const none = taskDefinition.safeParse({
      ...JOB_APPLY_TASK,
      actions: JOB_APPLY_TASK.actions.map((a) => ({ ...a, positive: false })),
    });
    assert.match(describeIssues(none.error as never), /at least one action must be positive/);
    const dup = taskDefinition.safeParse({
      ...JOB_APPLY_TASK,
      actions: [...JOB_APPLY_TASK.actions, { ...JOB_APPLY_TASK.actions[0], action: "SAVE" }],
    });
    assert.match(describeIssues(dup.error as never), /duplicate answer apply/);
  });
});
