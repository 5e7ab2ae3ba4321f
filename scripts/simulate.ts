import { existsSync } from "node:fs";
import { DEMO_COUNTS, type DemoCounts, demoMarketplace, seedDemoData } from "../dev/demo-seed";
import { SIMULATED_JOB_APPLY, SIMULATED_JOB_SAVE, summarizeMarketplace } from "../dev/marketplace";
import { loadConfig } from "../src/config";
import { parseFlags, positiveInt, runCommand } from "./cli";
import { type OpenDatabase, openDatabase, stopOnSignals } from "./local-services";

const USAGE = `npm run simulate -- [options]

Generates the synthetic jobs marketplace of dev/marketplace.ts (members with visible profiles and
hidden preferences, jobs, organic interactions, job_apply and job_save impressions by a random
logging policy and the answers sampled from each task's known rule), deterministically from the
seed, and prints what it holds, task by task: counts, the positive rate, and the AUC of the oracle
(true probabilities), of the best profile-only ranker (the rule averaged over the hidden
preferences) and of popularity on its shown positions. The defaults are the demo data of npm start.

  --seed N           the marketplace's seed (default 360)
  --members N        members (default ${DEMO_COUNTS.members})
  --jobs N           jobs (default ${DEMO_COUNTS.items})
  --background N     organic interactions outside impressions (default ${DEMO_COUNTS.interactions})
  --impressions N    job_apply impressions (default ${DEMO_COUNTS.impressions})
  --save-impressions N
                     job_save impressions, 0 for none (default ${DEMO_COUNTS.saveImpressions ?? 0})
  --shown N          jobs per impression (default ${DEMO_COUNTS.shownPerImpression})
  --weeks N          weeks the impressions are shown over, from 2026-01-05 (default ${DEMO_COUNTS.weeks})
  --write            also write it into the database (DATABASE_URL, else the running npm start's
                     embedded one, else the one under DATA_DIR) through the product's write paths;
                     only into a database with no members`;

function parse(argv: string[]): { counts: DemoCounts; write: boolean } {
  const v = parseFlags(
    argv,
    {
      seed: { type: "string" },
      members: { type: "string" },
      jobs: { type: "string" },
      background: { type: "string" },
      impressions: { type: "string" },
      "save-impressions": { type: "string" },
      shown: { type: "string" },
      weeks: { type: "string" },
      write: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
    USAGE,
  );
  return {
    counts: {
      seed: positiveInt("seed", v.seed, 360),
      members: positiveInt("members", v.members, DEMO_COUNTS.members),
      items: positiveInt("jobs", v.jobs, DEMO_COUNTS.items),
      interactions: positiveInt("background", v.background, DEMO_COUNTS.interactions),
      impressions: positiveInt("impressions", v.impressions, DEMO_COUNTS.impressions),
      saveImpressions: count("save-impressions", v["save-impressions"], DEMO_COUNTS.saveImpressions ?? 0),
      shownPerImpression: positiveInt("shown", v.shown, DEMO_COUNTS.shownPerImpression),
      weeks: positiveInt("weeks", v.weeks, DEMO_COUNTS.weeks ?? 12),
    },
    write: v.write,
  };
}

/** A count that may be 0 (positiveInt's rules otherwise). */
function count(name: string, value: string | undefined, fallback: number): number {
  return value === "0" ? 0 : positiveInt(name, value, fallback);
}

async function main() {
  const { counts, write } = parse(process.argv.slice(2));
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const started = Date.now();
  const world = demoMarketplace(counts);
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const lines = [
    `marketplace seed ${counts.seed}: ${world.members.length} members, ${world.jobs.length} jobs, ` +
      `${world.interactions.length - world.answers.length} background interactions`,
  ];
  const summaries: Record<string, ReturnType<typeof summarizeMarketplace>> = {};
  for (const task of [SIMULATED_JOB_APPLY, SIMULATED_JOB_SAVE]) {
    const s = summarizeMarketplace(world, task);
    summaries[task.name] = s;
    if (s.impressions === 0 && task !== SIMULATED_JOB_APPLY) continue;
    const positive = Object.keys(task.responses)[0];
    lines.push(
      `${s.impressions} ${task.name} impressions, ${s.positions} shown positions, ${s.meanHistory.toFixed(1)} history entries per impression on average`,
      `  answers: ${Object.entries(s.answers)
        .map(([a, n]) => `${a} ${n}`)
        .join(", ")}; positives (${positive}) ${s.positives} = ${pct(s.positiveRate)}`,
      `  ${task.name} AUC of P(${positive}) over the shown positions:`,
      `    oracle (profile + hidden preferences)  ${s.auc.oracle.toFixed(4)}`,
      `    profile-only oracle                    ${s.auc.profileOnly.toFixed(4)}`,
      `    popularity (before the impression)     ${s.auc.popularity.toFixed(4)}`,
    );
  }
  process.stdout.write(`${lines.join("\n")}\n\n`);
  let written: Awaited<ReturnType<typeof seedDemoData>> = null;
  if (write) {
    if (existsSync(".env")) process.loadEnvFile(".env");
    let database: OpenDatabase | null = null;
    stopOnSignals(log, async () => {
      await database?.close();
    });
    database = await openDatabase(loadConfig());
    try {
      written = await seedDemoData(database.db, counts);
      log(
        written
          ? `written into ${database.describe}`
          : `${database.describe} has members: nothing written (the marketplace goes only into an empty database)`,
      );
    } finally {
      await database.close();
    }
    if (!written) process.exitCode = 1;
  }
  process.stdout.write(
    // job_apply's summary at the top (as before job_save), every task's under `tasks`.
    `${JSON.stringify({ ...summaries.job_apply, tasks: summaries, seed: counts.seed, written: write ? written !== null : undefined, seconds: (Date.now() - started) / 1000 })}\n`,
  );
}

runCommand("simulate", USAGE, main);
