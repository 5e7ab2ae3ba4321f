import { z } from "zod";
import { actionCode } from "./events";

/**
 * A task as 360Brew defines one: in words. `actions` maps interaction codes to how the prompt says
 * them in the history ("applied to") and as an answer (" apply"); `positive` answers make up the
 * ranking score.
 */
export const taskAction = z.object({
  /** Interaction code this action is recorded as, e.g. APPLY. */
  action: actionCode,
  /** Verb phrase in the history: "Member has <historyPhrase> the following jobs: ...". */
  historyPhrase: z.string().trim().min(1).max(100),
  /** Answer word after "Answer: The member will", e.g. "apply". */
  answer: z.string().trim().min(1).max(50),
  /** Whether this answer counts towards the ranking score. */
  positive: z.boolean(),
});
export type TaskAction = z.infer<typeof taskAction>;

export const historyPolicy = z.object({
  /** Most interactions read from the database, newest first. */
  maxItems: z.number().int().min(0).max(2000).default(100),
  /** Token budget of the prompt prefix; unset: the gateway's PROMPT_MAX_TOKENS. */
  maxTokens: z.number().int().min(64).max(1_000_000).nullish(),
  /** Only interactions of the last N days; unset: no limit. */
  lookbackDays: z.number().int().min(1).max(36_500).nullish(),
});
export type HistoryPolicy = z.infer<typeof historyPolicy>;

export const taskDefinition = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, "must be a lower-case identifier such as job_apply"),
    instruction: z.string().trim().min(1).max(10_000),
    note: z.string().trim().max(2000).nullish(),
    itemType: z.string().regex(/^[A-Z][A-Z0-9_]{0,39}$/, "must be an upper-case item type such as JOB"),
    itemNoun: z.string().trim().min(1).max(50),
    itemNounPlural: z.string().trim().min(1).max(50),
    questionVerb: z.string().trim().min(1).max(100),
    actions: z.array(taskAction).min(1, "needs at least one action"),
    historyPolicy: historyPolicy.default({ maxItems: 100 }),
  })
  .superRefine((t, ctx) => {
    if (!t.actions.some((a) => a.positive)) {
      ctx.addIssue({ code: "custom", path: ["actions"], message: "at least one action must be positive" });
    }
    const seen = new Set<string>();
    for (const [i, a] of t.actions.entries()) {
      for (const key of [`action:${a.action}`, `answer:${a.answer}`]) {
        if (seen.has(key)) {
          ctx.addIssue({
            code: "custom",
            path: ["actions", i],
            message: `duplicate ${key.replace(":", " ")}`,
          });
        }
        seen.add(key);
      }
    }
  });
export type TaskDefinition = z.infer<typeof taskDefinition>;

/** The job-application task of the 360Brew paper (Table 1), word for word. */
export const JOB_APPLY_TASK: TaskDefinition = {
  name: "job_apply",
  instruction:
    "You are provided a member's profile and a set of jobs, their description, and interactions that the member had with the jobs. For each past job, the member has taken one of the following actions: applied, viewed, dismissed, or did not interact. Your task is to analyze the job interaction data along with the member's profile to predict whether the member will apply, view, or dismiss a new job referred to as the \"Question\" job.",
  note: "Focus on skills, location, and years of experience more than other criteria.",
  itemType: "JOB",
  itemNoun: "job",
  itemNounPlural: "jobs",
  questionVerb: "apply to",
  actions: [
    { action: "APPLY", historyPhrase: "applied to", answer: "apply", positive: true },
    { action: "VIEW", historyPhrase: "viewed", answer: "view", positive: false },
    { action: "DISMISS", historyPhrase: "dismissed", answer: "dismiss", positive: false },
  ],
  historyPolicy: { maxItems: 100 },
};

/**
 * Saving a job for later (a saved-jobs surface), in the paper's style: the same model, other
 * words. Every answer is one token of the demo model's tokenizer (" save" and " skip" are not:
 * three tokens each), so a member who saves a job "will interact" with it.
 */
export const JOB_SAVE_TASK: TaskDefinition = {
  name: "job_save",
  instruction:
    "You are provided a member's profile and the jobs the member interacted with before: for each past job, the member saved it for later, viewed it or dismissed it. Your task is to analyze these interactions along with the member's profile to predict whether the member will interact with a new job referred to as the \"Question\" job by saving it for later, only view it, or dismiss it.",
  note: "Members save jobs that fit them even when they are not ready to apply: weigh skills, location, company and workplace.",
  itemType: "JOB",
  itemNoun: "job",
  itemNounPlural: "jobs",
  questionVerb: "save",
  actions: [
    { action: "SAVE", historyPhrase: "saved", answer: "interact", positive: true },
    { action: "VIEW", historyPhrase: "viewed", answer: "view", positive: false },
    { action: "DISMISS", historyPhrase: "dismissed", answer: "dismiss", positive: false },
  ],
  historyPolicy: { maxItems: 100 },
};
