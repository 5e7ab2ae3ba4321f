import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { JOB_APPLY_TASK, taskDefinition } from "../../src/domain/task-definition";
import { promptVersion } from "../../src/prompt/version";

describe("prompt version", () => {
  it("names the same wording the same way, whatever the task is called or how it was read", () => {
    const v = promptVersion(JOB_APPLY_TASK);
    assert.match(v, /^[0-9a-f]{12}$/);
    // A task read back from the database is a new object with the same content.
    assert.equal(promptVersion(taskDefinition.parse(structuredClone(JOB_APPLY_TASK))), v);
    assert.equal(promptVersion({ ...JOB_APPLY_TASK, name: "job_apply_copy" }), v);
    // Key order and unset optional fields do not count.
    const { note, ...rest } = JOB_APPLY_TASK;
    assert.equal(promptVersion({ note, ...rest, historyPolicy: { maxTokens: null, maxItems: 100 } }), v);
  });

  it("changes with anything the prompt says", () => {
    const v = promptVersion(JOB_APPLY_TASK);
    assert.notEqual(promptVersion({ ...JOB_APPLY_TASK, note: "Focus on location." }), v);
    assert.notEqual(promptVersion({ ...JOB_APPLY_TASK, historyPolicy: { maxItems: 10 } }), v);
    const actions = JOB_APPLY_TASK.actions.map((a) => (a.action === "VIEW" ? { ...a, answer: "look" } : a));
    assert.notEqual(promptVersion({ ...JOB_APPLY_TASK, actions }), v);
  });
});
