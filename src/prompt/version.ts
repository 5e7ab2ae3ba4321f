import { createHash } from "node:crypto";
import type { TaskDefinition } from "../domain/task-definition";

/**
 * Revision of the prompt renderer (template.ts, builder.ts): bump it whenever a change makes the
 * same task render a different prompt, so that impressions and evaluation runs of the old and new
 * prompts are told apart.
 */
export const TEMPLATE_REVISION = 1;

const versions = new WeakMap<TaskDefinition, string>();

/**
 * A short, stable name for the prompt a task renders: a hash of the renderer's revision and the
 * task's wording, actions and history policy (not its name). Two impressions with the same
 * version were asked the same question in the same words.
 */
export function promptVersion(task: TaskDefinition): string {
  const known = versions.get(task);
  if (known) return known;
  const { name: _name, ...wording } = task;
  const version = createHash("sha256")
    .update(canonical({ revision: TEMPLATE_REVISION, task: wording }))
    .digest("hex")
    .slice(0, 12);
  versions.set(task, version);
  return version;
}

/** JSON with keys sorted and null or absent fields left out: equal content, equal text. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const fields = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== null && v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`);
    return `{${fields.join(",")}}`;
  }
  return JSON.stringify(value);
}
