import type { Prisma } from "@prisma/client";
import type { Db } from "../src/db/client";
import { ensureDefaultTasks } from "../src/db/tasks";
import type { ImpressionRecord } from "../src/domain/impression";
import { JOB_APPLY_TASK } from "../src/domain/task-definition";
import { promptVersion } from "../src/prompt/version";

/**
 * Synthetic members, jobs and interactions in the spirit of the 360Brew example (software
 * engineers, well-known companies, US cities), generated deterministically so every fresh
 * local run shows the same data. Written only into an empty database, in one transaction.
 *
 * Besides the profiles and jobs, members were shown rankings of jobs (impressions of the
 * job_apply task, by a random logging policy) and answered some positions; every interaction,
 * those answers and the background ones alike, is drawn from one known preference rule
 * (`demoOutcomeProbabilities`), so histories carry signal and offline evaluation has outcomes
 * whose true probabilities are known.
 */

const TITLES = [
  "Software Engineer",
  "Senior Software Engineer",
  "Data Engineer",
  "Machine Learning Engineer",
  "Site Reliability Engineer",
  "Product Manager",
  "Data Scientist",
  "Frontend Engineer",
  "Engineering Manager",
  "Security Engineer",
];
const COMPANIES = [
  "Google",
  "Meta",
  "Apple",
  "AMD",
  "Microsoft",
  "Amazon",
  "Netflix",
  "Stripe",
  "Nvidia",
  "LinkedIn",
  "Airbnb",
  "Databricks",
];
const CITIES: [string, string][] = [
  ["Sunnyvale, California", "USA"],
  ["New York, New York", "USA"],
  ["Seattle, Washington", "USA"],
  ["Austin, Texas", "USA"],
  ["San Francisco, California", "USA"],
  ["Boston, Massachusetts", "USA"],
  ["Toronto, Ontario", "Canada"],
  ["London", "United Kingdom"],
];
const SKILLS = [
  "Go",
  "Python",
  "Java",
  "Kubernetes",
  "PyTorch",
  "SQL",
  "Spark",
  "React",
  "TypeScript",
  "C++",
  "CUDA",
  "Kafka",
  "PostgreSQL",
  "AWS",
];

/**
 * The preference rule every demo interaction is drawn from, in words (the README quotes it).
 * `demoAffinity` and `demoOutcomeProbabilities` are the same rule in code.
 */
export const DEMO_PREFERENCE_RULE =
  "A member's affinity for a job adds 1.5 if the job's title is the member's current position, " +
  "1 if the job is in the member's location, 1 for each of the member's skills named in the " +
  "job's description, and 0.5 if the job's seniority fits the member's years of experience " +
  "(Entry level: up to 3 years; Mid-Senior level: 3 to 15; Director: 12 or more). Shown a job, the " +
  "member applies, views, dismisses or does nothing with softmax probabilities of the logits " +
  "APPLY = 1.0·affinity − 3, VIEW = 0.5·affinity − 1, DISMISS = −0.75·affinity − 1 and nothing = 0; " +
  "the position it was shown at does not matter.";

/** Weights of the rule above. */
const AFFINITY = { title: 1.5, location: 1, skill: 1, seniority: 0.5 } as const;
const LOGITS = {
  APPLY: { base: -3, slope: 1 },
  VIEW: { base: -1, slope: 0.5 },
  DISMISS: { base: -1, slope: -0.75 },
} as const;
/** Years of experience each seniority level fits, inclusive. */
const SENIORITY_YEARS: Record<string, [number, number]> = {
  "Entry level": [0, 3],
  "Mid-Senior level": [3, 15],
  Director: [12, Number.POSITIVE_INFINITY],
};

/** What the rule reads of a member (a Member row will do). */
export interface DemoMemberProfile {
  currentPosition?: string | null;
  location?: string | null;
  skills: readonly string[];
  yearsOfExperience?: number | null;
}

/** What the rule reads of a job (an Item row will do). */
export interface DemoJob {
  title: string;
  location?: string | null;
  description?: string | null;
  attributes?: unknown;
}

/** The true probability of each answer of a member shown a job; the four sum to 1. */
export interface DemoOutcomeProbabilities {
  APPLY: number;
  VIEW: number;
  DISMISS: number;
  /** No interaction at all. */
  NONE: number;
}

/** Lower-case words, punctuation at their ends dropped ("C++" and "C#" stay whole), one space apart. */
function words(text: string): string {
  return text
    .toLowerCase()
    .split(/\s+/)
    .map((w) => w.replace(/^[^\p{L}\p{N}+#]+|[^\p{L}\p{N}+#]+$/gu, ""))
    .filter(Boolean)
    .join(" ");
}

/** The affinity of DEMO_PREFERENCE_RULE: how well `job` fits `member`, 0 when nothing does. */
export function demoAffinity(member: DemoMemberProfile, job: DemoJob): number {
  let affinity = 0;
  const position = member.currentPosition?.trim().toLowerCase();
  if (position && job.title.trim().toLowerCase() === position) affinity += AFFINITY.title;
  if (member.location && job.location === member.location) affinity += AFFINITY.location;
  const description = ` ${words(job.description ?? "")} `;
  for (const skill of new Set(member.skills.map(words))) {
    if (skill && description.includes(` ${skill} `)) affinity += AFFINITY.skill;
  }
  const seniority = (job.attributes as Record<string, unknown> | null | undefined)?.Seniority;
  const fits = typeof seniority === "string" ? SENIORITY_YEARS[seniority] : undefined;
  const years = member.yearsOfExperience;
  if (fits && years != null && years >= fits[0] && years <= fits[1]) affinity += AFFINITY.seniority;
  return affinity;
}

/**
 * The true probabilities of DEMO_PREFERENCE_RULE for `member` shown `job`: what every demo
 * interaction was sampled from, for simulators and oracles to reuse.
 */
export function demoOutcomeProbabilities(member: DemoMemberProfile, job: DemoJob): DemoOutcomeProbabilities {
  const a = demoAffinity(member, job);
  const e = {
    APPLY: Math.exp(LOGITS.APPLY.base + LOGITS.APPLY.slope * a),
    VIEW: Math.exp(LOGITS.VIEW.base + LOGITS.VIEW.slope * a),
    DISMISS: Math.exp(LOGITS.DISMISS.base + LOGITS.DISMISS.slope * a),
    NONE: 1,
  };
  const total = e.APPLY + e.VIEW + e.DISMISS + e.NONE;
  return { APPLY: e.APPLY / total, VIEW: e.VIEW / total, DISMISS: e.DISMISS / total, NONE: e.NONE / total };
}

/** Park-Miller generator: small, seedable, the same sequence on every platform. */
function rng(seed: number) {
  let s = seed % 2147483647 || 1;
  const next = () => {
    s = (s * 48271) % 2147483647;
    return s / 2147483647;
  };
  return { next, pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)] };
}

/** One answer drawn from `p` with the uniform number `u`; null: no interaction. */
function sample(p: DemoOutcomeProbabilities, u: number): "APPLY" | "VIEW" | "DISMISS" | null {
  if (u < p.APPLY) return "APPLY";
  if (u < p.APPLY + p.VIEW) return "VIEW";
  if (u < p.APPLY + p.VIEW + p.DISMISS) return "DISMISS";
  return null;
}

export const DEMO_MEMBER_ID = "member-1";

/** The model name of the demo impressions: no model ranked them, the seed's logging policy did. */
export const DEMO_LOGGING_MODEL = "demo-seed-random";

export interface DemoCounts {
  members: number;
  items: number;
  /** Background interactions, outside any impression (searches, emails, ...). */
  interactions: number;
  /** Impressions of job_apply, each with its outcomes. */
  impressions: number;
  /** Distinct jobs each impression shows (at most `items`). */
  shownPerImpression: number;
}

/** What `npm start` writes into an empty database. */
export const DEMO_COUNTS: DemoCounts = {
  members: 25,
  items: 150,
  interactions: 400,
  impressions: 300,
  shownPerImpression: 10,
};

/** Rows written by one seeding. */
export interface DemoSeedReport {
  members: number;
  items: number;
  /** Background interactions. */
  interactions: number;
  impressions: number;
  /** ImpressionItem rows: shown positions. */
  shownPositions: number;
  /** Interactions that answer a shown position, by action. */
  outcomes: { APPLY: number; VIEW: number; DISMISS: number };
}

const DAY = 86_400_000;
/** The background interactions and the impressions span this many days from 2026-01-01. */
const SPAN_DAYS = 300;

/**
 * Writes the demo data into an empty database (no members) and says what it wrote; null when the
 * database was not empty and nothing was written.
 *
 * - Members and jobs as before; background interactions pick a member, a job, a surface and a
 *   time uniformly, and their action from the rule given that there was one.
 * - `impressions` rankings of job_apply by a random logging policy: a uniformly random member at
 *   a uniformly random time after every job was posted, shown `shownPerImpression` distinct
 *   uniformly random jobs in random order; each position scored 1/3 for every action (the
 *   policy knows nothing), so the candidates have the shape real impressions have.
 * - Each shown position answered as the rule samples, 1 minute to 6 hours after the impression
 *   (well inside the 7-day attribution window), on JOBS_HOME; about half the answers name their
 *   impression and half leave attribution to the window (src/db/outcomes.ts). The answers are
 *   ordinary interactions, so they join the member's history for later rankings.
 *
 * The impressions and their ImpressionItem rows are written through Prisma in the same
 * transaction as everything else (insertImpressions runs on the pool and could not join it), one
 * ImpressionItem per candidate as insertImpressions writes them.
 */
export async function seedDemoData(db: Db, counts: DemoCounts = DEMO_COUNTS): Promise<DemoSeedReport | null> {
  if ((await db.member.count()) > 0) return null;
  const r = rng(360);
  const members = Array.from({ length: counts.members }, (_, i) => {
    const [location] = r.pick(CITIES);
    const skills = [...new Set([r.pick(SKILLS), r.pick(SKILLS), r.pick(SKILLS)])];
    return {
      id: `member-${i + 1}`,
      currentPosition: r.pick(TITLES).toLowerCase(),
      currentCompany: r.pick(COMPANIES),
      location,
      skills,
      yearsOfExperience: 1 + Math.floor(r.next() * 20),
      summary: `Works on ${skills.join(", ")} systems.`,
    };
  });
  // The first member is the paper's example member.
  Object.assign(members[0], {
    currentPosition: "software engineer",
    currentCompany: "Google",
    location: "Sunnyvale, California",
  });
  const start = Date.UTC(2026, 0, 1);
  const items = Array.from({ length: counts.items }, (_, i) => {
    const title = r.pick(TITLES);
    const company = r.pick(COMPANIES);
    const [location, country] = r.pick(CITIES);
    const skills = [r.pick(SKILLS), r.pick(SKILLS)];
    return {
      id: `job-${i + 1}`,
      type: "JOB",
      title,
      company,
      location,
      country,
      description: `${company} is hiring a ${title} to build products with ${skills.join(" and ")}.`,
      attributes: {
        Seniority: r.pick(["Entry level", "Mid-Senior level", "Director"]),
        Workplace: r.pick(["On-site", "Hybrid", "Remote"]),
      },
      createdAt: new Date(start + i * 3_600_000),
    };
  });
  // Background interactions: the same draws as ever for who, what, where and when (so the
  // histories are as long as they were), the action from the rule given an interaction.
  const background = Array.from({ length: counts.interactions }, (_, i) => {
    const member = r.pick(members);
    const item = r.pick(items);
    const p = demoOutcomeProbabilities(member, item);
    const u = r.next() * (1 - p.NONE);
    return {
      eventId: `demo-${i + 1}`,
      memberId: member.id,
      itemId: item.id,
      action: sample(p, u) ?? "DISMISS",
      surface: r.pick(["JOBS_HOME", "SEARCH", "EMAIL"]),
      occurredAt: new Date(start + Math.floor(r.next() * SPAN_DAYS * DAY)),
    };
  });

  // Impressions and their outcomes draw from a stream of their own, so changing their counts
  // leaves the rest of the data as it was.
  const s = rng(1_360_360);
  const shown = Math.min(counts.shownPerImpression, items.length);
  const firstShown = start + items.length * 3_600_000;
  const lastShown = Math.max(firstShown, start + SPAN_DAYS * DAY);
  const times = Array.from({ length: counts.impressions }, () =>
    Math.floor(firstShown + s.next() * (lastShown - firstShown)),
  ).sort((a, b) => a - b);
  const version = promptVersion(JOB_APPLY_TASK);
  const uniform = Object.fromEntries(JOB_APPLY_TASK.actions.map((a) => [a.action, 1 / 3]));
  const impressions: ImpressionRecord[] = [];
  const outcomes: ((typeof background)[number] & { impressionId?: string })[] = [];
  const mix = { APPLY: 0, VIEW: 0, DISMISS: 0 };
  for (const [n, at] of times.entries()) {
    const id = `demo-imp-${n + 1}`;
    const member = s.pick(members);
    // A partial Fisher-Yates shuffle: `shown` distinct jobs in uniformly random order.
    const order = items.map((_, i) => i);
    for (let k = 0; k < shown; k++) {
      const j = k + Math.floor(s.next() * (order.length - k));
      [order[k], order[j]] = [order[j], order[k]];
    }
    const jobs = order.slice(0, shown).map((i) => items[i]);
    impressions.push({
      id,
      requestId: `demo-req-${n + 1}`,
      memberId: member.id,
      taskName: JOB_APPLY_TASK.name,
      model: DEMO_LOGGING_MODEL,
      promptVersion: version,
      createdAt: new Date(at),
      candidates: jobs.map((job, k) => ({
        itemId: job.id,
        rank: k + 1,
        score: uniform.APPLY,
        probabilities: { ...uniform },
      })),
    });
    for (const [k, job] of jobs.entries()) {
      const action = sample(demoOutcomeProbabilities(member, job), s.next());
      const delay = 60_000 + Math.floor(s.next() * 6 * 3_600_000);
      const named = s.next() < 0.5;
      if (!action) continue;
      mix[action]++;
      outcomes.push({
        eventId: `demo-out-${n + 1}-${k + 1}`,
        memberId: member.id,
        itemId: job.id,
        action,
        surface: "JOBS_HOME",
        occurredAt: new Date(at + delay),
        ...(named ? { impressionId: id } : {}),
      });
    }
  }

  if (impressions.length > 0) await ensureDefaultTasks(db); // the job_apply row they refer to
  const [m, i, bg, imp, pos] = await db.$transaction([
    db.member.createMany({ data: members }),
    db.item.createMany({ data: items }),
    db.interaction.createMany({ data: background, skipDuplicates: true }),
    db.impression.createMany({
      data: impressions.map((x) => ({ ...x, candidates: x.candidates as Prisma.InputJsonValue })),
    }),
    db.impressionItem.createMany({
      data: impressions.flatMap((x) =>
        x.candidates.map((c) => ({
          impressionId: x.id,
          rank: c.rank,
          itemId: c.itemId,
          memberId: x.memberId,
          createdAt: x.createdAt,
        })),
      ),
    }),
    db.interaction.createMany({ data: outcomes, skipDuplicates: true }),
  ]);
  // Fresh planner statistics after a bulk load, as after any: without them PostgreSQL takes the
  // new tables for near-empty and plans the history join as a nested loop over every item.
  await db.$executeRaw`ANALYZE "Member", "Item", "Interaction", "Impression", "ImpressionItem"`;
  return {
    members: m.count,
    items: i.count,
    interactions: bg.count,
    impressions: imp.count,
    shownPositions: pos.count,
    outcomes: mix,
  };
}
