import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import type { Browser, Page } from "playwright-core";
import type { SidecarProcess } from "../../dev/sidecar-process";
import { saveEvaluationRun } from "../../src/db/evaluation-runs";
import { type Gateway, startGateway } from "../../src/gateway";
import { PLAYGROUND_CSP } from "../../src/server/playground";
import { REPORT_CSP } from "../../src/server/report";
import { launchChromium } from "../support/browser";
import { testConfig } from "../support/config";
import { bearer, gql } from "../support/graphql";
import { type LocalRunGateway, startLocalRunGateway } from "../support/local-run";
import { REPO_ROOT, testModel } from "../support/models";
import { createTestDatabase, type TestDatabase } from "../support/postgres";
import { startTestSidecar } from "../support/sidecar";

const JOBS = [
  { id: "job-a", title: "Backend Engineer", company: "Acme", location: "Berlin" },
  { id: "job-b", title: "Data Engineer", company: "Globex", location: "Paris" },
  { id: "job-c", title: "Site Reliability Engineer", company: "Initech", location: "Remote" },
  { id: "job-d", title: "Platform Engineer", company: "Umbrella", location: "London" },
  { id: "job-e", title: "Staff Engineer", company: "Hooli", location: "Zurich" },
  { id: "job-f", title: "ML Engineer", company: "Stark", location: "Madrid" },
  // API text is shown as text: this title must not become markup in the page.
  {
    id: "job-g",
    title: '<img src="x" id="injected"><b>Frontend</b> Engineer',
    company: "Wayne",
    location: null,
  },
];

/** Alice's history, oldest first; the page lists it newest first. */
const HISTORY = [
  { eventId: "pg-1", itemId: "job-a", action: "VIEW", occurredAt: "2026-11-01T09:00:00Z" },
  { eventId: "pg-2", itemId: "job-b", action: "APPLY", occurredAt: "2026-11-02T09:00:00Z" },
  { eventId: "pg-3", itemId: "job-c", action: "DISMISS", occurredAt: "2026-11-03T09:00:00Z" },
];

/** Jobs a ranking of Alice's retrieves: those she has not interacted with. */
const CANDIDATES = JOBS.length - HISTORY.length;

interface RankAnswer {
  data: {
    recommendations: {
      items: {
        itemId: string;
        score: number;
        actions: { action: string; probability: number }[];
      }[];
    };
  };
}

interface RenderedRow {
  itemId: string;
  score: number;
  bars: { action: string; probability: number; shown: number }[];
}

/**
 * Run in the page (as text: the tests compile without the DOM's types): each ranked job as shown,
 * with its bars' values and how much of its track each bar fills.
 */
const READ_ROWS = `Array.from(document.querySelectorAll("#ranking .job")).map((job) => ({
  itemId: job.dataset.itemId,
  score: Number(job.dataset.score),
  bars: Array.from(job.querySelectorAll(".bar")).map((bar) => ({
    action: bar.dataset.action,
    probability: Number(bar.dataset.probability),
    shown: bar.querySelector(".bar-fill").getBoundingClientRect().width /
      bar.querySelector(".bar-track").getBoundingClientRect().width,
  })),
}))`;

const REPORT_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>job_apply evaluation</title>
<style>h1#report-title{color:rgb(200, 0, 0)}</style></head>
<body><h1 id="report-title">job_apply, run pg-run-1</h1>
<svg id="roc" width="200" height="100" viewBox="0 0 200 100"><rect id="roc-bar" x="0" y="0" width="120" height="40" fill="#3366cc"/></svg>
<script>document.body.dataset.scriptRan = "yes";</script>
</body></html>`;

describe("the playground and the evaluation report in a real browser", { timeout: 180_000 }, () => {
  let pg: TestDatabase;
  let sidecar: SidecarProcess;
  let gw: Gateway;
  let base: string;
  let browser: Browser;
  let local: LocalRunGateway | undefined;
  /** Credentials of the writes that set the scene. */
  let admin: Record<string, string> = {};
  before(async () => {
    [pg, sidecar] = await Promise.all([createTestDatabase(), startTestSidecar()]);
    // As `npm start` runs it: authentication required; the page sends its development service token.
    local = await startLocalRunGateway(
      { DATABASE_URL: pg.url, MODEL_DIR: testModel(), INFERENCE_ADDRESSES: sidecar.address },
      "pg-alice",
    );
    gw = local.gw;
    admin = bearer(local.auth.tokens.admin);
    base = gw.url.replace(/\/graphql$/, "");
    const seeded = await gql(
      gw.url,
      `mutation Seed($alice: MemberInput!, $bob: MemberInput!) {
        alice: upsertMember(input: $alice) { id }
        bob: upsertMember(input: $bob) { id }
      }`,
      {
        alice: {
          id: "pg-alice",
          currentPosition: "Software Engineer",
          currentCompany: "Initrode",
          location: "Berlin",
          skills: ["TypeScript", "PostgreSQL"],
          yearsOfExperience: 6,
          summary: "Builds <backend> systems & APIs.",
        },
        bob: { id: "pg-bob", currentPosition: "Designer" },
      },
      admin,
    );
    assert.equal(seeded.errors, undefined, JSON.stringify(seeded.errors));
    for (const job of JOBS) {
      const r = await gql(
        gw.url,
        "mutation($input: ItemInput!) { upsertItem(input: $input) { id } }",
        { input: { ...job, type: "JOB", description: `${job.title} at ${job.company}.` } },
        admin,
      );
      assert.equal(r.errors, undefined, JSON.stringify(r.errors));
    }
    const events = HISTORY.map((e) => ({ ...e, memberId: "pg-alice" }));
    const recorded = await gql(
      gw.url,
      "mutation($events: [InteractionInput!]!) { recordInteractions(events: $events) { stored } }",
      { events },
      admin,
    );
    assert.deepEqual(recorded, { data: { recordInteractions: { stored: HISTORY.length } } });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await local?.stop();
    await sidecar?.stop();
    await pg?.drop();
  });

  /** A page that records requests leaving the gateway and the browser's console errors. */
  async function open(path: string): Promise<{ page: Page; offsite: string[]; problems: string[] }> {
    const page = await browser.newPage();
    const offsite: string[] = [];
    const problems: string[] = [];
    page.on("request", (r) => {
      if (!r.url().startsWith(base)) offsite.push(r.url());
    });
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(m.text());
    });
    page.on("pageerror", (err) => problems.push(err.message));
    await page.goto(`${base}${path}`);
    return { page, offsite, problems };
  }

  it("Member.interactions lists a member's history newest first, each with its item", async () => {
    const r = await gql<{
      member: { interactions: { eventId: string; action: string; item: { title: string } }[] };
    }>(
      gw.url,
      `{ member(id: "pg-alice") { interactions(first: 2) { eventId action item { title } } } }`,
      undefined,
      admin,
    );
    assert.deepEqual(r.data?.member.interactions, [
      { eventId: "pg-3", action: "DISMISS", item: { title: "Site Reliability Engineer" } },
      { eventId: "pg-2", action: "APPLY", item: { title: "Data Engineer" } },
    ]);
    const tooMany = await gql(
      gw.url,
      `{ member(id: "pg-alice") { interactions(first: 101) { eventId } } }`,
      undefined,
      admin,
    );
    assert.equal(tooMany.errors?.[0]?.extensions?.code, "BAD_USER_INPUT");
  });

  it("picks a member, shows their history, ranks with each action's probability as bars and streams an explanation", async () => {
    const { page, offsite, problems } = await open("/playground");
    const frames: string[] = [];
    page.on("websocket", (ws) => ws.on("framereceived", (f) => frames.push(String(f.payload))));

    // The first member by id is shown first; picking Bob shows an empty history, then Alice's.
    await page.waitForSelector('#member-panel[data-member-id="pg-alice"]', { timeout: 30_000 });
    await page.getByText("random weights").first().waitFor({ timeout: 5_000 });
    await page.selectOption("#member", "pg-bob");
    await page.waitForSelector('#member-panel[data-member-id="pg-bob"]', { timeout: 10_000 });
    assert.equal((await page.textContent("#history"))?.trim(), "No interactions yet.");
    await page.selectOption("#member", "pg-alice");
    await page.waitForSelector('#member-panel[data-member-id="pg-alice"]', { timeout: 10_000 });
    assert.equal(await page.textContent('#profile [data-field="company"]'), "Initrode");
    assert.equal(
      await page.textContent('#profile [data-field="summary"]'),
      "Builds <backend> systems & APIs.",
    );
    const history = await page.$$eval("#history li", (lis) =>
      lis.map((li) => [li.getAttribute("data-event-id"), li.getAttribute("data-action")]),
    );
    assert.deepEqual(history, [
      ["pg-3", "DISMISS"],
      ["pg-2", "APPLY"],
      ["pg-1", "VIEW"],
    ]);
    assert.equal(await page.inputValue("#task"), "job_apply");

    // Rank: the rows show what the GraphQL answer said, each action's bar as wide as its probability.
    const answered = page.waitForResponse(
      (r) => r.url() === gw.url && (r.request().postData() ?? "").includes("PlaygroundRank"),
    );
    await page.click("#rank");
    const answer = (await (await answered).json()) as RankAnswer;
    const expected = answer.data.recommendations.items;
    assert.equal(expected.length, CANDIDATES);
    await page.waitForSelector(`#ranking .job >> nth=${CANDIDATES - 1}`, { timeout: 30_000 });
    const rows = await page.evaluate<RenderedRow[]>(READ_ROWS);
    assert.deepEqual(
      rows.map((r) => r.itemId),
      expected.map((e) => e.itemId),
    );
    for (const [i, row] of rows.entries()) {
      assert.equal(row.score, expected[i].score);
      assert.deepEqual(
        row.bars.map((b) => [b.action, b.probability]),
        expected[i].actions.map((a) => [a.action, a.probability]),
      );
      assert.deepEqual(
        row.bars.map((b) => b.action),
        ["APPLY", "VIEW", "DISMISS"],
      );
      const sum = row.bars.reduce((s, b) => s + b.shown, 0);
      assert.ok(Math.abs(sum - 1) < 0.02, `the bars of ${row.itemId} add up to ${sum}`);
      for (const b of row.bars) {
        assert.ok(
          Math.abs(b.shown - b.probability) < 0.01,
          `${row.itemId} ${b.action}: bar ${b.shown}, probability ${b.probability}`,
        );
      }
    }
    // The title with markup in it is text.
    assert.equal(await page.locator("#injected").count(), 0);
    assert.equal(await page.locator("#ranking b").count(), 0);
    assert.equal(
      await page.textContent('#ranking .job[data-item-id="job-g"] .title'),
      '<img src="x" id="injected"><b>Frontend</b> Engineer',
    );

    // A job's explanation arrives over graphql-ws, piece by piece, until its last event.
    await page.click(`#ranking .job[data-item-id="${expected[0].itemId}"] .job-open`);
    await page.waitForSelector('#explain-panel[data-state="done"], #explain-panel[data-state="error"]', {
      timeout: 60_000,
    });
    assert.equal(
      await page.getAttribute("#explain-panel", "data-state"),
      "done",
      `explanation panel: ${await page.textContent("#explain-panel")}`,
    );
    const text = (await page.textContent("#explain-text")) ?? "";
    assert.ok(text.length > 0, "the explanation is empty");
    const streamed = frames.filter((f) => f.includes('"type":"next"') && f.includes('"explanation"'));
    assert.ok(streamed.length > 1, `the explanation arrived in ${streamed.length} message(s)`);
    const deltas = streamed.map((f) => JSON.parse(f).payload.data.explanation.delta as string).join("");
    assert.equal(text, deltas);
    assert.match((await page.textContent("#explain-status")) ?? "", /^Done \((STOP|LENGTH)\)\.$/);
    assert.ok(await page.textContent("#explain-head .answer"));

    assert.equal(await page.getAttribute('nav a[href="/report"]', "href"), "/report");
    assert.deepEqual(offsite, [], "the playground fetched something from outside the gateway");
    assert.deepEqual(problems, [], "the browser reported errors (a CSP violation, a script error)");
    await page.close();
  });

  it("serves the playground with a strict CSP and its files from the source tree, wherever the gateway starts", async () => {
    const res = await fetch(`${base}/playground`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-security-policy"), PLAYGROUND_CSP);
    // A gateway process as production runs it (node dist/src/main.js; `npm start` loads the same
    // compiled module), started from another directory.
    const child = spawn(process.execPath, [join(REPO_ROOT, "dist", "src", "main.js")], {
      cwd: tmpdir(),
      env: { ...process.env, PORT: "0", LOG_LEVEL: "warn", DATABASE_URL: pg.url, IDE_ENABLED: "true" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = new Promise((done) => child.once("exit", done));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const errors: string[] = [];
        createInterface({ input: child.stderr }).on("line", (l) => errors.push(l));
        const timer = setTimeout(() => reject(new Error(`no gateway: ${errors.join("\n")}`)), 30_000);
        child.once("exit", (code) => reject(new Error(`gateway exited with ${code}: ${errors.join("\n")}`)));
        createInterface({ input: child.stdout }).on("line", (line) => {
          const m = /brewgate GraphQL: (\S+)/.exec(line);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]);
          }
        });
      });
      const origin = url.replace(/\/graphql$/, "");
      assert.equal((await fetch(`${origin}/playground`)).status, 200);
      for (const name of ["playground.js", "playground.css"]) {
        const file = await fetch(`${origin}/playground/${name}`);
        assert.equal(file.status, 200, name);
        assert.equal(
          await file.text(),
          readFileSync(join(REPO_ROOT, "src", "server", "playground", name), "utf8"),
          name,
        );
      }
    } finally {
      child.kill("SIGTERM");
      await exited;
    }
  });

  it("/report says how to make a report until there is one, then serves it with a CSP that runs no script", async () => {
    const none = await fetch(`${base}/report`);
    assert.equal(none.status, 404);
    assert.match(none.headers.get("content-type") ?? "", /^text\/html/);
    assert.equal(none.headers.get("content-security-policy"), REPORT_CSP);
    assert.match(await none.text(), /npm run eval -- --task job_apply/);
    const other = await (await fetch(`${base}/report?task=%3Cscript%3E`)).text();
    assert.match(other, /npm run eval -- --task &lt;script&gt;/);
    assert.doesNotMatch(other, /<script>/);

    {
      const { page, problems } = await open("/report");
      await page.getByText("npm run eval -- --task job_apply").waitFor({ timeout: 5_000 });
      assert.deepEqual(
        problems.filter((p) => !/404/.test(p)),
        [],
      );
      await page.close();
    }

    await saveEvaluationRun(gw.db, {
      id: "pg-run-1",
      taskName: "job_apply",
      model: "llama-tiny-1",
      promptVersion: "pv-test",
      source: "impressions",
      dataFrom: new Date("2026-11-01T00:00:00Z"),
      dataTo: new Date("2026-11-08T00:00:00Z"),
      impressions: 12,
      positions: 48,
      // The shape the evaluation writes (src/evaluation/summarize.ts): rankers as a named list.
      metrics: {
        k: 10,
        rankers: [
          { name: "popularity", auc: 0.61, ndcg: 0.4 },
          { name: "model", auc: 0.75, ndcg: 0.5, perAction: { APPLY: { auc: 0.8 } } },
        ],
      },
      report: REPORT_HTML,
    });

    const { page, offsite, problems } = await open("/report");
    await page.waitForSelector("#roc-bar", { timeout: 10_000 });
    const box = await page.locator("#roc-bar").boundingBox();
    assert.ok(box && Math.abs(box.width - 120) < 1 && Math.abs(box.height - 40) < 1, JSON.stringify(box));
    // Its inline style applies; its script does not run.
    assert.equal(
      await page.evaluate<string>('getComputedStyle(document.getElementById("report-title")).color'),
      "rgb(200, 0, 0)",
    );
    assert.equal(await page.$eval("body", (b) => b.getAttribute("data-script-ran")), null);
    assert.ok(
      problems.some((p) => /Content Security Policy/i.test(p)),
      "the report's script was not refused",
    );
    assert.equal(await page.getAttribute('.brewgate-nav a[href="/playground"]', "href"), "/playground");
    assert.deepEqual(offsite, []);
    const res = await fetch(`${base}/report`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-security-policy"), REPORT_CSP);
    await page.close();

    // The list shows the run's headline metrics (the model's, not a baseline's) and links to it.
    const list = await open("/reports");
    const row = list.page.locator('tr[data-run-id="pg-run-1"]');
    assert.match((await row.textContent()) ?? "", /llama-tiny-1[\s\S]*pv-test[\s\S]*0\.750[\s\S]*0\.500/);
    await row.locator("a").click();
    await list.page.waitForSelector("#roc-bar", { timeout: 10_000 });
    assert.equal(list.page.url(), `${base}/report/pg-run-1`);
    await list.page.close();
    assert.equal((await fetch(`${base}/report/nope`)).status, 404);
  });

  it("says what a described model is (config.json's brewgate_description) where a random one gets the warning", async () => {
    const origin = gw.url.replace(/\/graphql$/, "");
    const random = await (await fetch(`${origin}/playground`)).text();
    assert.match(random, /id="random-weights"/);
    assert.doesNotMatch(random, /id="model-description"/);

    const dir = await mkdtemp(join(tmpdir(), "brewgate-described-"));
    const model = join(dir, "model");
    await cp(testModel(), model, { recursive: true });
    const config = JSON.parse(readFileSync(join(model, "config.json"), "utf8"));
    delete config.brewgate_random_weights;
    config.brewgate_description = "a toy model trained on <synthetic> data";
    await writeFile(join(model, "config.json"), JSON.stringify(config));
    const described = await startGateway(testConfig({ DATABASE_URL: pg.url, MODEL_DIR: model }));
    try {
      assert.equal(described.modelDescription, "a toy model trained on <synthetic> data");
      assert.equal(described.randomWeights, false);
      const html = await (await fetch(`${described.url.replace(/\/graphql$/, "")}/playground`)).text();
      assert.match(
        html,
        /id="model-description">The model is a toy model trained on &lt;synthetic&gt; data\./,
      );
      assert.doesNotMatch(html, /id="random-weights"/);
    } finally {
      await described.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("IDE_ENABLED=false turns the IDE and the playground off; the report pages stay", async () => {
    const plain = await startGateway(testConfig({ DATABASE_URL: pg.url, IDE_ENABLED: "false" }));
    try {
      const origin = plain.url.replace(/\/graphql$/, "");
      assert.equal((await fetch(`${origin}/playground`)).status, 404);
      assert.equal((await fetch(`${origin}/playground/playground.js`)).status, 404);
      assert.notEqual((await fetch(`${origin}/`)).status, 200);
      // The run stored by the test before: its report and the list are served without the IDE.
      assert.equal((await fetch(`${origin}/report`)).status, 200);
      assert.equal((await fetch(`${origin}/reports`)).status, 200);
    } finally {
      await plain.stop();
    }
  });
});
