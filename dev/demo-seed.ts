import { REQUEST_LIMITS } from "../src/config/limits";
import type { Db } from "../src/db/client";
import { insertImpressions } from "../src/db/impressions";
import { upsertItems } from "../src/db/items";
import { upsertMembers } from "../src/db/members";
import { ensureDefaultTasks } from "../src/db/tasks";
import { JOB_APPLY_TASK, JOB_SAVE_TASK } from "../src/domain/task-definition";
import { InteractionWriter } from "../src/ingest/interactions";
import { promptVersion } from "../src/prompt/version";
import {
  type Marketplace,
  SIMULATED_JOB_APPLY,
  SIMULATED_JOB_SAVE,
  simulateMarketplace,
} from "./marketplace";

/**
 * The demo data of `npm start`: a synthetic jobs marketplace (dev/marketplace.ts) in the spirit
 * of the 360Brew example, written deterministically into an empty database through the paths the
 * product's own writes take: members and jobs through the upserts of the mutations and the Kafka
 * consumer, interactions through InteractionWriter (the one store-and-announce path), impressions
 * through insertImpressions with each shown position's true probabilities, so `npm run eval`
 * scores the oracle on them.
 */

export const DEMO_MEMBER_ID = "member-1";

/** The model name of the demo impressions: no model ranked them, the simulator's random logging policy did. */
export const DEMO_LOGGING_MODEL = "demo-seed-random";

/** The marketplace's seed for the demo data. */
export const DEMO_SEED = 360;

/** The first impression of the demo data is shown on this day (UTC, a Monday). */
export const DEMO_START = new Date(Date.UTC(2026, 0, 5));

export interface DemoCounts {
  members: number;
  items: number;
  /** Background interactions, outside any impression (searches, emails). */
  interactions: number;
  /** Impressions of job_apply, each with its outcomes. */
  impressions: number;
  /** Impressions of job_save (the saved-jobs surface), each with its outcomes (default 0: none). */
  saveImpressions?: number;
  /** Distinct jobs each impression shows (at most `items`). */
  shownPerImpression: number;
  /** Impressions are shown over this many weeks from DEMO_START (default 12). */
  weeks?: number;
  /** The marketplace's seed (default DEMO_SEED). */
  seed?: number;
}

/**
 * What `npm start` writes into an empty database: sized so that `npm run eval` on it takes about
 * as long as it did on the earlier demo data (the lists scored drive the cost) with about 500
 * applications, enough that AUC differences of 0.05 are outside noise; and job_save impressions on
 * a second surface in the same world, so `npm run eval -- --task job_save` has data too (its
 * world's job_apply part is the same with or without them).
 */
export const DEMO_COUNTS: DemoCounts = {
  members: 50,
  items: 300,
  interactions: 400,
  impressions: 360,
  saveImpressions: 240,
  shownPerImpression: 10,
  weeks: 12,
};

/** Rows written by one seeding. */
export interface DemoSeedReport {
  members: number;
  items: number;
  /** Background interactions. */
  interactions: number;
  /** Impressions of all tasks. */
  impressions: number;
  /** Impressions by task name (job_apply, job_save). */
  impressionsByTask: Record<string, number>;
  /** ImpressionItem rows: shown positions. */
  shownPositions: number;
  /** Interactions that answer a shown position, by action (over all tasks). */
  outcomes: { APPLY: number; SAVE: number; VIEW: number; DISMISS: number };
}

/** The world the demo data is written from (the same counts give the same world). */
export function demoMarketplace(counts: DemoCounts = DEMO_COUNTS): Marketplace {
  return simulateMarketplace({
    seed: counts.seed ?? DEMO_SEED,
    members: counts.members,
    jobs: counts.items,
    background: counts.interactions,
    shownPerImpression: counts.shownPerImpression,
    weeks: counts.weeks ?? 12,
    start: DEMO_START,
    tasks: [
      {
        task: SIMULATED_JOB_APPLY,
        impressions: counts.impressions,
        surface: "JOBS_HOME",
        promptVersion: promptVersion(JOB_APPLY_TASK),
      },
      {
        task: SIMULATED_JOB_SAVE,
        impressions: counts.saveImpressions ?? 0,
        surface: "SAVED_JOBS",
        promptVersion: promptVersion(JOB_SAVE_TASK),
      },
    ],
    loggingModel: DEMO_LOGGING_MODEL,
  });
}

/**
 * Whether the database is one to seed: empty (no members), or holding only a seeding that stopped
 * before its impressions were written (the demo's members and no impressions at all), which is
 * then completed: every write is idempotent by id.
 */
async function seedable(db: Db, world: Marketplace): Promise<boolean> {
  const members = await db.member.count();
  if (members === 0) return true;
  if (world.impressions.length === 0 || members > world.members.length) return false;
  const ours = await db.member.count({ where: { id: { in: world.members.map((m) => m.profile.id) } } });
  return ours === members && (await db.impression.count()) === 0;
}

/**
 * Writes the demo marketplace into an empty database and says what it wrote; null when the
 * database was not empty and nothing was written. `writer` is the InteractionWriter interactions
 * go through (the gateway's, so its listeners hear of them); by default one with no listeners.
 *
 * Order: the built-in tasks (job_apply, job_save), members, jobs, every interaction (background, then answers; an
 * answer that names its impression may precede it, as on the live path), and the impressions
 * last, so a seeding interrupted before them is completed by the next one.
 */
export async function seedDemoData(
  db: Db,
  counts: DemoCounts = DEMO_COUNTS,
  opts: { writer?: InteractionWriter } = {},
): Promise<DemoSeedReport | null> {
  const world = demoMarketplace(counts);
  if (!(await seedable(db, world))) return null;
  if (world.impressions.length > 0) await ensureDefaultTasks(db); // the task rows they refer to
  await upsertMembers(
    db,
    world.members.map((m) => m.profile),
  );
  await upsertItems(
    db,
    world.jobs.map((j) => j.item),
  );
  const writer = opts.writer ?? new InteractionWriter(db, [], () => {});
  const max = REQUEST_LIMITS.maxEventsPerCall;
  for (let i = 0; i < world.interactions.length; i += max) {
    await writer.recordAll(world.interactions.slice(i, i + max));
  }
  for (let i = 0; i < world.impressions.length; i += 500) {
    await insertImpressions(db, world.impressions.slice(i, i + 500));
  }
  // Fresh planner statistics after a bulk load, as after any: without them PostgreSQL takes the
  // new tables for near-empty and plans the history join as a nested loop over every item.
  await db.$executeRaw`ANALYZE "Member", "Item", "Interaction", "Impression", "ImpressionItem"`;
  const outcomes = { APPLY: 0, SAVE: 0, VIEW: 0, DISMISS: 0 };
  for (const a of world.answers) outcomes[a.action as keyof typeof outcomes]++;
  const impressionsByTask: Record<string, number> = {};
  for (const imp of world.impressions)
    impressionsByTask[imp.taskName] = (impressionsByTask[imp.taskName] ?? 0) + 1;
  return {
    members: world.members.length,
    items: world.jobs.length,
    interactions: world.interactions.length - world.answers.length,
    impressions: world.impressions.length,
    impressionsByTask,
    shownPositions: world.impressions.reduce((n, imp) => n + imp.candidates.length, 0),
    outcomes,
  };
}
