import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  answerProbabilities,
  hiddenAffinity,
  profileOnlyProbabilities,
  rocAuc,
  SIMULATED_JOB_APPLY,
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

const world = (seed: number) =>
  simulateMarketplace({
    seed,
    members: 40,
    jobs: 200,
    background: 300,
    impressions: 300,
    shownPerImpression: 10,
    weeks: 8,
    start: new Date(Date.UTC(2026, 0, 5)),
    task: SIMULATED_JOB_APPLY,
    loggingModel: "policy",
    promptVersion: "v",
  });

describe("the simulated marketplace", () => {
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

  it("computes a pooled AUC with ties counted one half", () => {
    assert.equal(rocAuc([0.1, 0.4, 0.35, 0.8], [false, false, true, true]), 0.75);
    assert.equal(rocAuc([1, 1], [true, false]), 0.5);
  });
});
