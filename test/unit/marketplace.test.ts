import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import {
  answerProbabilities,
  hiddenAffinity,
  MARKETPLACE_RULE,
  type Marketplace,
  type MarketplaceConfig,
  profileOnlyProbabilities,
  rocAuc,
  SIMULATED_JOB_APPLY,
  SIMULATED_JOB_SAVE,
  type SimJob,
  type SimMember,
  simulateMarketplace,
  summarizeMarketplace,
  trueProbabilities,
  visibleAffinity,
  WORKPLACES,
} from "../../dev/marketplace";

const member: SimMember = {
  profile: {
    id: "m",
    currentPosition: "software engineer",
    location: "Sunnyvale, California",
    skills: ["Go", "Python", "C++"],
    yearsOfExperience: 5,
  },
  hidden: { companyGroup: "big tech", workplace: "Remote", skill: "Kafka" },
};
const job = (over: Partial<SimJob> = {}): SimJob => ({
  item: {
    id: "j",
    type: "JOB",
    title: "Software Engineer",
    company: "Google",
    location: "Sunnyvale, California",
    description: "Google is hiring a Software Engineer to build products with Go, C++ and Kafka.",
  },
  skills: ["Go", "C++", "Kafka"],
  seniority: "Mid-Senior level",
  workplace: "Remote",
  ...over,
});

const config = (seed: number, saves = 0): MarketplaceConfig => ({
  seed,
  members: 40,
  jobs: 200,
  background: 300,
  shownPerImpression: 10,
  weeks: 8,
  start: new Date(Date.UTC(2026, 0, 5)),
  tasks: [
    { task: SIMULATED_JOB_APPLY, impressions: 300, surface: "JOBS_HOME", promptVersion: "v" },
    ...(saves > 0
      ? [{ task: SIMULATED_JOB_SAVE, impressions: saves, surface: "SAVED_JOBS", promptVersion: "w" }]
      : []),
  ],
  loggingModel: "policy",
});
const world = (seed: number, saves = 0) => simulateMarketplace(config(seed, saves));

/** The world's parts as the simulator made them before it had several tasks, hashed. */
function fingerprint(w: Marketplace): string {
  const { members, jobs, interactions, answers, impressions } = w;
  const text = JSON.stringify({ members, jobs, interactions, answers, impressions });
  return createHash("sha256").update(text).digest("hex");
}

describe("the simulated marketplace", { timeout: 120_000 }, () => {
  it("computes the documented rule", () => {
    // Title 1.5 + location 1 + Go 1 + C++ 1 + seniority 0.5.
    assert.equal(visibleAffinity(member.profile, job()), 5);
    // Big tech 1.5 + Remote 1.5 + Kafka 2.
    assert.equal(hiddenAffinity(member.hidden, job()), 5);
    assert.equal(hiddenAffinity(member.hidden, job({ workplace: "On-site", skills: ["Go"] })), 1.5);
    const p = trueProbabilities(SIMULATED_JOB_APPLY, member, job());
    const e = { APPLY: Math.exp(10 - 4.5), VIEW: Math.exp(5 - 2.5), DISMISS: Math.exp(-5 - 1), NONE: 1 };
    const z = e.APPLY + e.VIEW + e.DISMISS + e.NONE;
    for (const a of ["APPLY", "VIEW", "DISMISS", "NONE"] as const)
      assert.ok(Math.abs(p[a] - e[a] / z) < 1e-12, a);
  });

  it("gives the profile-only ranker the rule averaged over the hidden preferences a member could have", () => {
    const j = job();
    // Group: 1 in 3; workplace: 1 in 3; the hidden skill: Kafka is 1 of the 11 skills not in the profile.
    let expected = 0;
    for (const [g, pg] of [
      [1.5, 1 / 3],
      [0, 2 / 3],
    ])
      for (const [w, pw] of [
        [1.5, 1 / 3],
        [0, 2 / 3],
      ])
        for (const [s, ps] of [
          [2, 1 / 11],
          [0, 10 / 11],
        ])
          expected += pg * pw * ps * answerProbabilities(SIMULATED_JOB_APPLY, 5 + g + w + s).APPLY;
    assert.ok(
      Math.abs(profileOnlyProbabilities(SIMULATED_JOB_APPLY, member.profile, j).APPLY - expected) < 1e-12,
    );
    // It does not depend on the member's hidden preferences at all.
    const other = {
      ...member,
      hidden: { companyGroup: "chips", workplace: "Hybrid" as const, skill: "SQL" },
    };
    assert.deepEqual(
      profileOnlyProbabilities(SIMULATED_JOB_APPLY, other.profile, j),
      profileOnlyProbabilities(SIMULATED_JOB_APPLY, member.profile, j),
    );
  });

  it("is deterministic from its seed, and the seed matters", () => {
    assert.deepEqual(world(7), world(7));
    assert.notDeepEqual(world(7).impressions, world(8).impressions);
  });

  it("hides the preferences from the profile, and they matter on every seed", () => {
    for (const seed of [1, 2, 3]) {
      const w = world(seed);
      for (const m of w.members) {
        assert.ok(
          !m.profile.skills.includes(m.hidden.skill),
          `${m.profile.id}'s hidden skill is in the profile`,
        );
        const text = JSON.stringify(m.profile);
        for (const place of WORKPLACES)
          assert.ok(!text.includes(place), `${m.profile.id}'s profile names ${place}`);
      }
      const s = summarizeMarketplace(w, SIMULATED_JOB_APPLY);
      assert.ok(s.auc.oracle > s.auc.profileOnly + 0.08, `seed ${seed}: ${JSON.stringify(s.auc)}`);
      assert.ok(s.auc.profileOnly > 0.55, `seed ${seed}: ${JSON.stringify(s.auc)}`);
    }
  });

  it("lets what a member did become their history before later impressions", () => {
    const w = world(5);
    for (const a of w.answers) {
      const n = Number(/^sim-out-(\d+)-/.exec(a.eventId)?.[1]);
      const shownAt = w.impressions[n - 1].createdAt.getTime();
      const delay = a.occurredAt.getTime() - shownAt;
      assert.ok(delay >= 60_000 && delay <= 6 * 3_600_000 + 60_000, `${a.eventId} ${delay}`);
    }
    // Members see impressions over the weeks: earlier answers are history for later impressions.
    const s = summarizeMarketplace(w, SIMULATED_JOB_APPLY);
    assert.ok(s.meanHistory > 5, `${s.meanHistory} history entries per impression`);
  });

  it("keeps a world of job_apply alone bit for bit the world the one-task simulator made", () => {
    // Recorded from the simulator before it took several tasks (commit d1de326), with the same
    // config: the demo data's counts on seed 360, and this file's world on seed 7.
    const demo = simulateMarketplace({
      ...config(360),
      members: 50,
      jobs: 300,
      background: 400,
      weeks: 12,
      tasks: [{ task: SIMULATED_JOB_APPLY, impressions: 360, surface: "JOBS_HOME", promptVersion: "v" }],
    });
    assert.equal(fingerprint(demo), "bf379716ae1f703a365d155bb799a3d327eb000dcbba7392a88db33ca12c6219");
    assert.equal(fingerprint(world(7)), "f20f71e862c13b1e9f24b5b178ae273a83975946b85f2b7b5b1f9a92ea75ea70");
    const s = summarizeMarketplace(demo, SIMULATED_JOB_APPLY);
    assert.deepEqual(s, {
      impressions: 360,
      positions: 3600,
      positives: 492,
      positiveRate: 0.13666666666666666,
      answers: { APPLY: 492, VIEW: 634, DISMISS: 331 },
      meanHistory: 19.244444444444444,
      auc: { oracle: 0.8210299803287608, profileOnly: 0.668144952443733, popularity: 0.4797964340647268 },
    });
  });

  it("computes job_save's documented rule", () => {
    assert.match(
      MARKETPLACE_RULE,
      /SAVE = 0\.9·affinity − 4, VIEW = 0\.5·affinity − 2\.5, DISMISS = −0\.5·affinity − 1/,
    );
    const p = trueProbabilities(SIMULATED_JOB_SAVE, member, job());
    const e = { SAVE: Math.exp(0.9 * 10 - 4), VIEW: Math.exp(5 - 2.5), DISMISS: Math.exp(-5 - 1), NONE: 1 };
    const z = e.SAVE + e.VIEW + e.DISMISS + e.NONE;
    for (const a of ["SAVE", "VIEW", "DISMISS", "NONE"] as const)
      assert.ok(Math.abs(p[a] - e[a] / z) < 1e-12, a);
  });

  it("shows job_save next to job_apply in the same world, leaving job_apply's impressions and answers alone", () => {
    const alone = world(7);
    const both = world(7, 200);
    const ofTask = (w: Marketplace, name: string) => w.impressions.filter((i) => i.taskName === name);
    // The same people, jobs and organic interactions; job_apply's impressions and answers unchanged.
    assert.deepEqual(both.members, alone.members);
    assert.deepEqual(both.jobs, alone.jobs);
    assert.deepEqual(ofTask(both, "job_apply"), alone.impressions);
    const applyIds = new Set(alone.impressions.map((i) => i.id));
    assert.deepEqual(
      both.answers.filter((a) => !a.eventId.startsWith("sim-save-")),
      alone.answers,
    );
    assert.deepEqual(
      both.interactions.filter((a) => !a.eventId.startsWith("sim-save-")),
      alone.interactions,
    );
    // job_save's impressions: its own task, prompt version, ids, surface and answers.
    const saves = ofTask(both, "job_save");
    assert.equal(saves.length, 200);
    assert.equal(both.impressions.length, 500);
    assert.deepEqual(
      saves.map((i) => [i.id, i.requestId, i.promptVersion, i.model]),
      saves.map((_, n) => [`sim-save-imp-${n + 1}`, `sim-save-req-${n + 1}`, "w", "policy"]),
    );
    for (const imp of saves) {
      assert.ok(!applyIds.has(imp.id));
      for (const c of imp.candidates) {
        assert.deepEqual(Object.keys(c.probabilities).sort(), ["DISMISS", "SAVE", "VIEW"]);
        assert.deepEqual(Object.keys(c.trueProbabilities ?? {}).sort(), ["DISMISS", "NONE", "SAVE", "VIEW"]);
      }
    }
    // Interleaved in time order.
    const times = both.impressions.map((i) => i.createdAt.getTime());
    assert.deepEqual(
      times,
      [...times].sort((a, b) => a - b),
    );
    const firstSave = both.impressions.findIndex((i) => i.taskName === "job_save");
    const lastApply = both.impressions.findLastIndex((i) => i.taskName === "job_apply");
    assert.ok(firstSave < lastApply, "the tasks' impressions are interleaved, not one after the other");
    // Its answers: SAVE, VIEW or DISMISS on its surface, each with its impression known.
    const saveAnswers = both.answers.filter((a) => a.eventId.startsWith("sim-save-out-"));
    assert.ok(saveAnswers.length > 0);
    assert.deepEqual(new Set(saveAnswers.map((a) => a.action)), new Set(["SAVE", "VIEW", "DISMISS"]));
    assert.ok(saveAnswers.every((a) => a.surface === "SAVED_JOBS"));
    assert.equal(new Set(both.interactions.map((a) => a.eventId)).size, both.interactions.length);
    for (const imp of saves) {
      for (const a of both.answersOf[imp.id]) {
        assert.match(a.eventId, new RegExp(`^sim-save-out-${imp.id.slice("sim-save-imp-".length)}-\\d+$`));
        assert.ok(a.impressionId === undefined || a.impressionId === imp.id);
        assert.ok(imp.candidates.some((c) => c.itemId === a.itemId));
      }
    }
  });

  it("summarizes each task on its own impressions: job_save's oracle well above popularity", () => {
    const alone = world(7);
    const both = world(7, 300);
    const apply = summarizeMarketplace(both, SIMULATED_JOB_APPLY);
    const before = summarizeMarketplace(alone, SIMULATED_JOB_APPLY);
    // job_apply's positions and answers are the same; history and popularity now count saves too.
    assert.equal(apply.impressions, 300);
    assert.equal(apply.positions, 3000);
    assert.deepEqual(apply.answers, before.answers);
    assert.deepEqual(apply.auc.oracle, before.auc.oracle);
    assert.deepEqual(apply.auc.profileOnly, before.auc.profileOnly);
    const save = summarizeMarketplace(both, SIMULATED_JOB_SAVE);
    assert.equal(save.impressions, 300);
    assert.equal(save.positions, 3000);
    const saved = both.answers.filter((a) => a.eventId.startsWith("sim-save-out-"));
    assert.deepEqual(save.answers, {
      SAVE: saved.filter((a) => a.action === "SAVE").length,
      VIEW: saved.filter((a) => a.action === "VIEW").length,
      DISMISS: saved.filter((a) => a.action === "DISMISS").length,
    });
    assert.equal(save.positives, save.answers.SAVE);
    assert.ok(save.positives > 200, `${save.positives} saves`);
    assert.ok(save.auc.oracle > save.auc.popularity + 0.2, JSON.stringify(save.auc));
    assert.ok(save.auc.oracle > save.auc.profileOnly + 0.08, JSON.stringify(save.auc));
  });

  it("computes a pooled AUC with ties counted one half", () => {
    assert.equal(rocAuc([0.1, 0.4, 0.35, 0.8], [false, false, true, true]), 0.75);
    assert.equal(rocAuc([1, 1], [true, false]), 0.5);
  });
});
