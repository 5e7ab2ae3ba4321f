import type { Db } from "../src/db/client";

/**
 * Synthetic members, jobs and interactions in the spirit of the 360Brew example (software
 * engineers, well-known companies, US cities), generated deterministically so every fresh
 * local run shows the same data. Written only into an empty database.
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
const ACTIONS = ["APPLY", "VIEW", "VIEW", "VIEW", "DISMISS"];

/** Park-Miller generator: small, seedable, the same sequence on every platform. */
function rng(seed: number) {
  let s = seed % 2147483647 || 1;
  const next = () => {
    s = (s * 48271) % 2147483647;
    return s / 2147483647;
  };
  return { next, pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)] };
}

export const DEMO_MEMBER_ID = "member-1";

export interface DemoCounts {
  members: number;
  items: number;
  interactions: number;
}

export async function seedDemoData(
  db: Db,
  counts: DemoCounts = { members: 25, items: 150, interactions: 400 },
): Promise<boolean> {
  if ((await db.member.count()) > 0) return false;
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
  const interactions = Array.from({ length: counts.interactions }, (_, i) => ({
    eventId: `demo-${i + 1}`,
    memberId: r.pick(members).id,
    itemId: r.pick(items).id,
    action: r.pick(ACTIONS),
    surface: r.pick(["JOBS_HOME", "SEARCH", "EMAIL"]),
    occurredAt: new Date(start + Math.floor(r.next() * 300 * 86_400_000)),
  }));
  await db.$transaction([
    db.member.createMany({ data: members }),
    db.item.createMany({ data: items }),
    db.interaction.createMany({ data: interactions, skipDuplicates: true }),
  ]);
  // Fresh planner statistics after a bulk load, as after any: without them PostgreSQL takes the
  // new tables for near-empty and plans the history join as a nested loop over every item.
  await db.$executeRaw`ANALYZE "Member", "Item", "Interaction"`;
  return true;
}
