import type { TaskDefinition } from "../src/domain/task-definition";
import { ANSWER_STEM, renderLabel, renderPrefix, renderSuffix } from "../src/prompt/template";
import type { Marketplace } from "./marketplace";

/**
 * Text to fit a tokenizer to a marketplace's prompts (gen_tokenizer.py --corpus): every task's
 * wording, answers and history phrases, every member's profile and every job as the prompts render
 * them. A BPE fitted to it gives nearly every word of the prompts one token, so a prompt is about
 * half as long as with the built-in merges, and a job's title, company, city and skills are single
 * tokens that a small model can match between the candidate and the profile or history.
 */
export function marketplaceCorpus(world: Marketplace, tasks: TaskDefinition[]): string {
  const lines: string[] = [];
  for (const task of tasks) {
    for (const a of task.actions) lines.push(`${ANSWER_STEM}${renderLabel(a.answer)}`);
    for (const m of world.members) lines.push(renderPrefix(task, m.profile, []));
    const history = world.jobs.slice(0, 20).map((j, i) => ({
      action: task.actions[i % task.actions.length].action,
      item: j.item,
    }));
    lines.push(renderPrefix(task, world.members[0]?.profile ?? {}, history));
    for (const j of world.jobs) lines.push(renderSuffix(task, j.item));
  }
  return `${lines.join("\n")}\n`;
}
