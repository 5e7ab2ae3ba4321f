import type { InteractionEvent, ItemEvent, MemberEvent } from "../src/domain/events";
import type { ImpressionRecord } from "../src/domain/impression";

/**
 * A synthetic jobs marketplace whose truth is known, deterministic from a seed, of any size.
 *
 * Members have a visible profile (what the prompt's profile says) and hidden preferences that no
 * profile field names: a company group they favour, a workplace type they favour and a skill
 * they like that is not among their profile's skills. Jobs have a title, company, location,
 * skills (named in the description), seniority and workplace. Shown a job, a member applies,
 * views, dismisses or does nothing with probabilities that depend on the profile's fit with the
 * job AND on the hidden preferences (MARKETPLACE_RULE); the only way to learn the hidden part is
 * what the member did before, so a ranker that reads history can beat one that reads the profile
 * alone, and by how much is measured: `trueProbabilities` (everything) against
 * `profileOnlyProbabilities` (the best any ranker can do from the profile: the same rule averaged
 * over the hidden preferences a member could have).
 *
 * Time advances: organic interactions (searches, emails) start four weeks before the first
 * impression; impressions come at random times over `weeks` weeks; every answer is an interaction
 * soon after its impression, so it is history for the member's later impressions.
 *
 * Tasks are data (`SimulatedTask`: how each answer's logit follows the affinity), so a second
 * surface with its own answers can be simulated next to job_apply.
 */

export const MARKETPLACE_RULE =
  "A member's affinity for a job is the sum of a visible part and a hidden part. Visible (the " +
  "profile): 1.5 if the job's title is the member's current position, 1 if the job is in the " +
  "member's location, 1 for each of the member's profile skills the job asks for, and 0.5 if the " +
  "job's seniority fits the member's years of experience (Entry level: up to 3 years; Mid-Senior " +
  "level: 3 to 15; Director: 12 or more). Hidden (no profile field says it; only history shows " +
  "it): 1.5 if the job's company is in the member's favoured company group (big tech: Google, " +
  "Meta, Apple, Microsoft, Amazon; growth: Stripe, Databricks, Airbnb, Netflix, LinkedIn; " +
  "chips: Nvidia, AMD, Intel), 1.5 if the job's workplace (On-site, Hybrid, Remote) is the one " +
  "the member favours, and 2 if the job asks for the member's hidden skill (one skill not in " +
  "their profile). Shown a job, the member applies, views, dismisses or does nothing with " +
  "softmax probabilities of the logits APPLY = affinity − 4.5, VIEW = 0.5·affinity − 2.5, " +
  "DISMISS = −0.5·affinity − 1 and nothing = 0; the position it was shown at does not matter. " +
  "On the saved-jobs surface (job_save) the same affinity drives other answers: the member saves, " +
  "views, dismisses or does nothing with softmax probabilities of the logits SAVE = 0.9·affinity " +
  "− 4, VIEW = 0.5·affinity − 2.5, DISMISS = −0.5·affinity − 1 and nothing = 0. Organic " +
  "interactions (searches, emails) follow job_apply's rule.";

export const TITLES = [
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
export const COMPANY_GROUPS: Record<string, readonly string[]> = {
  "big tech": ["Google", "Meta", "Apple", "Microsoft", "Amazon"],
  growth: ["Stripe", "Databricks", "Airbnb", "Netflix", "LinkedIn"],
  chips: ["Nvidia", "AMD", "Intel"],
};
const GROUPS = Object.keys(COMPANY_GROUPS);
const COMPANIES = GROUPS.flatMap((g) => COMPANY_GROUPS[g]);
const GROUP_OF = new Map(GROUPS.flatMap((g) => COMPANY_GROUPS[g].map((c) => [c, g] as const)));
export const CITIES: readonly [string, string][] = [
  ["Sunnyvale, California", "USA"],
  ["New York, New York", "USA"],
  ["Seattle, Washington", "USA"],
  ["Austin, Texas", "USA"],
  ["San Francisco, California", "USA"],
  ["Boston, Massachusetts", "USA"],
  ["Toronto, Ontario", "Canada"],
  ["London", "United Kingdom"],
];
export const SKILLS = [
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
export const WORKPLACES = ["On-site", "Hybrid", "Remote"] as const;
export const SENIORITIES = ["Entry level", "Mid-Senior level", "Director"] as const;
/** Years of experience each seniority level fits, inclusive. */
const SENIORITY_YEARS: Record<string, [number, number]> = {
  "Entry level": [0, 3],
  "Mid-Senior level": [3, 15],
  Director: [12, Number.POSITIVE_INFINITY],
};

const VISIBLE = { title: 1.5, location: 1, skill: 1, seniority: 0.5 } as const;
const HIDDEN = { group: 1.5, workplace: 1.5, skill: 2 } as const;

/**
 * A task the marketplace simulates: its name, how each answer's logit follows the affinity (the
 * first answer is the positive one), and where its impressions come from: their own random
 * stream and ids, so that adding a task to a world leaves the other tasks' impressions alone.
 */
export interface SimulatedTask {
  name: string;
  /** Logit of each answer: base + slope · affinity; doing nothing has logit 0. */
  responses: Record<string, { base: number; slope: number }>;
  /** Its impressions' random stream is rng(seed · stream[0] + stream[1]). */
  stream: readonly [number, number];
  /** Prefix of its ids: `<ids>-imp-<n>`, `<ids>-req-<n>`, `<ids>-out-<n>-<rank>` (n in time order). */
  ids: string;
}

export const SIMULATED_JOB_APPLY: SimulatedTask = {
  name: "job_apply",
  responses: {
    APPLY: { base: -4.5, slope: 1 },
    VIEW: { base: -2.5, slope: 0.5 },
    DISMISS: { base: -1, slope: -0.5 },
  },
  stream: [13, 5],
  ids: "sim",
};

/** Saving a job for later (the saved-jobs surface): rarer than a view, likelier than an application. */
export const SIMULATED_JOB_SAVE: SimulatedTask = {
  name: "job_save",
  responses: {
    SAVE: { base: -4, slope: 0.9 },
    VIEW: { base: -2.5, slope: 0.5 },
    DISMISS: { base: -1, slope: -0.5 },
  },
  stream: [19, 7],
  ids: "sim-save",
};

export interface HiddenPreferences {
  companyGroup: string;
  workplace: (typeof WORKPLACES)[number];
  /** A skill the member likes that is not in their profile. */
  skill: string;
}

export interface SimMember {
  profile: MemberEvent & {
    skills: string[];
    location: string;
    currentPosition: string;
    yearsOfExperience: number;
  };
  hidden: HiddenPreferences;
}

export interface SimJob {
  item: ItemEvent & { title: string; company: string; location: string };
  skills: string[];
  seniority: (typeof SENIORITIES)[number];
  workplace: (typeof WORKPLACES)[number];
}

export interface MarketplaceConfig {
  seed: number;
  members: number;
  jobs: number;
  /** Organic interactions (search, email), outside any impression, over all members (job_apply's rule). */
  background: number;
  /** Distinct jobs each impression shows (at most `jobs`). */
  shownPerImpression: number;
  /** Impressions are shown over this many weeks from `start`. */
  weeks: number;
  start: Date;
  /** The tasks shown, each on its surface; their impressions are interleaved in time. */
  tasks: SimulatedSurface[];
  /** The model name impressions carry: the logging policy that chose them. */
  loggingModel: string;
}

/** One task of a world: how many impressions of it, on which surface, with which prompt version. */
export interface SimulatedSurface {
  task: SimulatedTask;
  /** Impressions of the task, over all members. */
  impressions: number;
  /** The surface its answers are recorded on (e.g. JOBS_HOME). */
  surface: string;
  /** The prompt version its impressions carry (promptVersion of the task's definition). */
  promptVersion: string;
}

/** One simulated world: who and what exist, what was shown and what was done. */
export interface Marketplace {
  members: SimMember[];
  jobs: SimJob[];
  /** Background interactions, then answers, each in time order within its kind. */
  interactions: InteractionEvent[];
  /** Answers to shown positions only (a subset of `interactions`), impression by impression. */
  answers: InteractionEvent[];
  /** Impressions of every task in time order; every candidate carries `trueProbabilities`. */
  impressions: ImpressionRecord[];
  /**
   * The answers of each impression, by impression id (the same objects as in `answers`; whether
   * an answer names its impression or not): what `summarizeMarketplace` joins outcomes by.
   */
  answersOf: Record<string, InteractionEvent[]>;
}

/** Park-Miller generator: small, seedable, the same sequence on every platform. */
export function rng(seed: number) {
  let s = Math.abs(Math.floor(seed)) % 2147483647 || 1;
  const next = () => {
    s = (s * 48271) % 2147483647;
    return s / 2147483647;
  };
  return { next, pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)] };
}

function skillsOf(job: SimJob): Set<string> {
  return new Set(job.skills);
}

/** The visible part of the affinity: what the profile alone says. */
export function visibleAffinity(m: SimMember["profile"], job: SimJob): number {
  let a = 0;
  if (job.item.title.toLowerCase() === m.currentPosition.toLowerCase()) a += VISIBLE.title;
  if (job.item.location === m.location) a += VISIBLE.location;
  const asks = skillsOf(job);
  for (const s of new Set(m.skills)) if (asks.has(s)) a += VISIBLE.skill;
  const [lo, hi] = SENIORITY_YEARS[job.seniority];
  if (m.yearsOfExperience >= lo && m.yearsOfExperience <= hi) a += VISIBLE.seniority;
  return a;
}

/** The hidden part: what only the member's history reveals. */
export function hiddenAffinity(h: HiddenPreferences, job: SimJob): number {
  let a = 0;
  if (GROUP_OF.get(job.item.company) === h.companyGroup) a += HIDDEN.group;
  if (job.workplace === h.workplace) a += HIDDEN.workplace;
  if (job.skills.includes(h.skill)) a += HIDDEN.skill;
  return a;
}

/** Softmax of the task's logits at `affinity`: each answer's probability, and NONE's. */
export function answerProbabilities(task: SimulatedTask, affinity: number): Record<string, number> {
  const e: Record<string, number> = {};
  let total = 1;
  for (const [action, { base, slope }] of Object.entries(task.responses)) {
    e[action] = Math.exp(base + slope * affinity);
    total += e[action];
  }
  const p: Record<string, number> = {};
  for (const action of Object.keys(e)) p[action] = e[action] / total;
  p.NONE = 1 / total;
  return p;
}

/** What `member` shown `job` answers with, in truth. */
export function trueProbabilities(
  task: SimulatedTask,
  member: SimMember,
  job: SimJob,
): Record<string, number> {
  return answerProbabilities(task, visibleAffinity(member.profile, job) + hiddenAffinity(member.hidden, job));
}

/**
 * The best a ranker that sees only the profile can do: the true probabilities averaged over the
 * hidden preferences a member with this profile could have (group, workplace and hidden skill
 * are drawn uniformly and independently, the skill among those not in the profile).
 */
export function profileOnlyProbabilities(
  task: SimulatedTask,
  profile: SimMember["profile"],
  job: SimJob,
): Record<string, number> {
  const visible = visibleAffinity(profile, job);
  const unlisted = SKILLS.filter((s) => !profile.skills.includes(s));
  const pGroup = 1 / GROUPS.length;
  const pWork = 1 / WORKPLACES.length;
  const pSkill = job.skills.filter((s) => unlisted.includes(s)).length / unlisted.length;
  const out: Record<string, number> = {};
  for (const [g, pg] of [
    [1, pGroup],
    [0, 1 - pGroup],
  ]) {
    for (const [w, pw] of [
      [1, pWork],
      [0, 1 - pWork],
    ]) {
      for (const [s, ps] of [
        [1, pSkill],
        [0, 1 - pSkill],
      ]) {
        const weight = pg * pw * ps;
        if (weight === 0) continue;
        const a = visible + g * HIDDEN.group + w * HIDDEN.workplace + s * HIDDEN.skill;
        for (const [k, v] of Object.entries(answerProbabilities(task, a)))
          out[k] = (out[k] ?? 0) + weight * v;
      }
    }
  }
  return out;
}

/** One answer drawn from `p` with the uniform number `u`; null: no interaction. */
function sample(p: Record<string, number>, actions: string[], u: number): string | null {
  let acc = 0;
  for (const a of actions) {
    acc += p[a];
    if (u < acc) return a;
  }
  return null;
}

/** `k` distinct indices of `n`, in uniformly random order (a partial Fisher-Yates shuffle). */
function choose(next: () => number, n: number, k: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(next() * (n - i));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order.slice(0, k);
}

const DAY = 86_400_000;

/** Generates the marketplace: the same config gives the same world, bit for bit. */
export function simulateMarketplace(config: MarketplaceConfig): Marketplace {
  const organicTask = SIMULATED_JOB_APPLY;
  const organicActions = Object.keys(organicTask.responses);
  // Separate streams: changing how many impressions there are leaves the people and jobs alone.
  const people = rng(config.seed);
  const members: SimMember[] = Array.from({ length: config.members }, (_, i) => {
    const [location] = people.pick(CITIES);
    const skills = [...new Set([people.pick(SKILLS), people.pick(SKILLS), people.pick(SKILLS)])];
    const unlisted = SKILLS.filter((s) => !skills.includes(s));
    return {
      profile: {
        id: `member-${i + 1}`,
        currentPosition: people.pick(TITLES).toLowerCase(),
        currentCompany: people.pick(COMPANIES),
        location,
        skills,
        yearsOfExperience: 1 + Math.floor(people.next() * 20),
        summary: `Works on ${skills.join(", ")} systems.`,
      },
      hidden: {
        companyGroup: people.pick(GROUPS),
        workplace: people.pick(WORKPLACES),
        skill: people.pick(unlisted),
      },
    };
  });
  if (members.length > 0) {
    // The first member is the paper's example member.
    Object.assign(members[0].profile, {
      currentPosition: "software engineer",
      currentCompany: "Google",
      location: "Sunnyvale, California",
    });
  }
  const jobs: SimJob[] = Array.from({ length: config.jobs }, (_, i) => {
    const title = people.pick(TITLES);
    const company = people.pick(COMPANIES);
    const [location, country] = people.pick(CITIES);
    const skills = [...new Set([people.pick(SKILLS), people.pick(SKILLS), people.pick(SKILLS)])];
    const seniority = people.pick(SENIORITIES);
    const workplace = people.pick(WORKPLACES);
    const listed = skills.length > 1 ? `${skills.slice(0, -1).join(", ")} and ${skills.at(-1)}` : skills[0];
    return {
      item: {
        id: `job-${i + 1}`,
        type: "JOB",
        title,
        company,
        location,
        country,
        description: `${company} is hiring a ${title} to build products with ${listed}.`,
        attributes: { Seniority: seniority, Workplace: workplace },
      },
      skills,
      seniority,
      workplace,
    };
  });

  const start = config.start.getTime();
  const end = start + config.weeks * 7 * DAY;
  const early = start - 28 * DAY;

  // Jobs were posted over the four weeks before anyone met them (a stream of its own, so the rest
  // of the world is the same with or without it).
  const posting = rng(config.seed * 17 + 3);
  for (const job of jobs)
    job.item.postedAt = new Date(early - 28 * DAY + Math.floor(posting.next() * 28 * DAY));

  // Organic interactions: a member meets a job outside any ranking (a search, an email) and does
  // something with it, as the rule says given that they did something.
  const organic = rng(config.seed * 7 + 1);
  const background: InteractionEvent[] = [];
  if (members.length > 0 && jobs.length > 0) {
    for (let i = 0; i < config.background; i++) {
      const member = organic.pick(members);
      const job = organic.pick(jobs);
      const p = trueProbabilities(organicTask, member, job);
      const action =
        sample(p, organicActions, organic.next() * (1 - p.NONE)) ?? organicActions[organicActions.length - 1];
      background.push({
        eventId: `sim-${i + 1}`,
        memberId: member.profile.id,
        itemId: job.item.id,
        action,
        surface: organic.pick(["SEARCH", "EMAIL"]),
        occurredAt: new Date(early + Math.floor(organic.next() * (end - early))),
      });
    }
    background.sort(
      (a, b) => a.occurredAt.getTime() - b.occurredAt.getTime() || (a.eventId < b.eventId ? -1 : 1),
    );
  }

  // Impressions by a random logging policy (uniformly random jobs in random order, every action
  // scored alike), so the data favours no model; each position answered as its task's rule
  // samples. Each task draws from its own stream, so a task added leaves the others' alone.
  const shown = Math.min(config.shownPerImpression, jobs.length);
  const shows: Shown[] = [];
  for (const [t, surface] of config.tasks.entries()) {
    for (const one of showTask(config, surface, members, jobs, shown, start, end)) shows.push({ ...one, t });
  }
  // Interleaved in time; a tie keeps the tasks' order (the sort is stable).
  shows.sort((a, b) => a.impression.createdAt.getTime() - b.impression.createdAt.getTime() || a.t - b.t);
  const impressions = shows.map((s) => s.impression);
  const answers = shows.flatMap((s) => s.answers);
  const answersOf = Object.fromEntries(shows.map((s) => [s.impression.id, s.answers]));
  return { members, jobs, interactions: [...background, ...answers], answers, impressions, answersOf };
}

interface Shown {
  impression: ImpressionRecord;
  answers: InteractionEvent[];
  /** The task's index in the config. */
  t: number;
}

/** One task's impressions, in its own time order, each with its answers. */
function showTask(
  config: MarketplaceConfig,
  { task, impressions: count, surface, promptVersion }: SimulatedSurface,
  members: SimMember[],
  jobs: SimJob[],
  shown: number,
  start: number,
  end: number,
): Omit<Shown, "t">[] {
  const actions = Object.keys(task.responses);
  const shows = rng(config.seed * task.stream[0] + task.stream[1]);
  const times =
    members.length > 0
      ? Array.from({ length: count }, () => Math.floor(start + shows.next() * (end - start))).sort(
          (a, b) => a - b,
        )
      : [];
  const flat = Object.fromEntries(actions.map((a) => [a, 1 / actions.length]));
  const positive = actions[0];
  const out: Omit<Shown, "t">[] = [];
  for (const [n, at] of times.entries()) {
    const id = `${task.ids}-imp-${n + 1}`;
    const member = shows.pick(members);
    const picked = choose(shows.next, jobs.length, shown).map((i) => jobs[i]);
    const candidates = picked.map((job, k) => ({
      itemId: job.item.id,
      rank: k + 1,
      score: flat[positive],
      probabilities: { ...flat },
      trueProbabilities: trueProbabilities(task, member, job),
    }));
    const impression: ImpressionRecord = {
      id,
      requestId: `${task.ids}-req-${n + 1}`,
      memberId: member.profile.id,
      taskName: task.name,
      model: config.loggingModel,
      promptVersion,
      createdAt: new Date(at),
      candidates,
    };
    const answers: InteractionEvent[] = [];
    for (const [k, c] of candidates.entries()) {
      const action = sample(c.trueProbabilities, actions, shows.next());
      const delay = 60_000 + Math.floor(shows.next() * 6 * 3_600_000);
      const named = shows.next() < 0.5;
      if (!action) continue;
      answers.push({
        eventId: `${task.ids}-out-${n + 1}-${k + 1}`,
        memberId: member.profile.id,
        itemId: c.itemId,
        action,
        surface,
        occurredAt: new Date(at + delay),
        ...(named ? { impressionId: id } : {}),
      });
    }
    out.push({ impression, answers });
  }
  return out;
}

/** Pooled ROC AUC of `scores` against `labels` (ties count one half). */
export function rocAuc(scores: number[], labels: boolean[]): number {
  const idx = scores.map((_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let rankSum = 0;
  let pos = 0;
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && scores[idx[j + 1]] === scores[idx[i]]) j++;
    const mid = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) {
      if (labels[idx[k]]) {
        rankSum += mid;
        pos++;
      }
    }
    i = j + 1;
  }
  const neg = labels.length - pos;
  if (pos === 0 || neg === 0) return Number.NaN;
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** What a world holds and how well each kind of knowledge ranks its shown positions (positive: the task's first answer). */
export interface MarketplaceSummary {
  impressions: number;
  positions: number;
  positives: number;
  positiveRate: number;
  answers: Record<string, number>;
  /** Mean history entries (interactions before the impression) per impression. */
  meanHistory: number;
  auc: { oracle: number; profileOnly: number; popularity: number };
}

/**
 * Counts and AUCs over the world's shown positions: the oracle (true probabilities), the
 * profile-only oracle, and popularity (interactions with the job, by anyone, before the
 * impression), each scoring the probability of the task's positive answer.
 */
export function summarizeMarketplace(world: Marketplace, task: SimulatedTask): MarketplaceSummary {
  const positive = Object.keys(task.responses)[0];
  const members = new Map(world.members.map((m) => [m.profile.id, m]));
  const jobs = new Map(world.jobs.map((j) => [j.item.id, j]));
  const events = [...world.interactions].sort((a, b) => a.occurredAt.getTime() - b.occurredAt.getTime());
  const byMember = new Map<string, number[]>();
  for (const e of events) {
    const list = byMember.get(e.memberId) ?? [];
    list.push(e.occurredAt.getTime());
    byMember.set(e.memberId, list);
  }
  const oracle: number[] = [];
  const profile: number[] = [];
  const popularity: number[] = [];
  const labels: boolean[] = [];
  const answers: Record<string, number> = Object.fromEntries(Object.keys(task.responses).map((a) => [a, 0]));
  let history = 0;
  const seen = new Map<string, number>();
  let e = 0;
  let count = 0;
  for (const imp of world.impressions) {
    const at = imp.createdAt.getTime();
    while (e < events.length && events[e].occurredAt.getTime() < at) {
      seen.set(events[e].itemId, (seen.get(events[e].itemId) ?? 0) + 1);
      e++;
    }
    if (imp.taskName !== task.name) continue;
    count++;
    history += (byMember.get(imp.memberId) ?? []).filter((t) => t < at).length;
    const member = members.get(imp.memberId);
    // An impression shows distinct jobs: its answer to a job is its answer at that position.
    const outcome = new Map((world.answersOf[imp.id] ?? []).map((a) => [a.itemId, a.action]));
    for (const c of imp.candidates) {
      const job = jobs.get(c.itemId);
      if (!member || !job || !c.trueProbabilities) continue;
      const action = outcome.get(c.itemId);
      if (action) answers[action]++;
      labels.push(action === positive);
      oracle.push(c.trueProbabilities[positive]);
      profile.push(profileOnlyProbabilities(task, member.profile, job)[positive]);
      popularity.push(seen.get(c.itemId) ?? 0);
    }
  }
  const positives = labels.filter(Boolean).length;
  return {
    impressions: count,
    positions: labels.length,
    positives,
    positiveRate: labels.length > 0 ? positives / labels.length : 0,
    answers,
    meanHistory: count > 0 ? history / count : 0,
    auc: {
      oracle: rocAuc(oracle, labels),
      profileOnly: rocAuc(profile, labels),
      popularity: rocAuc(popularity, labels),
    },
  };
}
