import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { JOB_APPLY_TASK } from "../../src/domain/task-definition";
import { type Gateway, startGateway } from "../../src/gateway";
import { testConfig } from "../support/config";
import { gql } from "../support/graphql";
import { testModel } from "../support/models";
import { createTestDatabase, type TestDatabase } from "../support/postgres";

type PromptData = {
  prompt: {
    prefixText: string;
    prefixTokenIds: number[];
    historyUsed: number;
    historyAvailable: number;
    candidates: { itemId: string; text: string; tokenIds: number[] }[];
    labels: { answer: string; tokenIds: number[] }[];
  };
};

describe("prompt query: profile and history from PostgreSQL into a 360Brew prompt", () => {
  let pg: TestDatabase;
  let gw: Gateway;
  before(async () => {
    pg = await createTestDatabase();
    gw = await startGateway(
      testConfig({
        DATABASE_URL: pg.url,
        TOKENIZER_PATH: join(testModel(), "tokenizer.json"),
        PROMPT_MAX_TOKENS: "4096",
      }),
    );
    await gw.db.member.create({
      data: {
        id: "m1",
        currentPosition: "software engineer",
        currentCompany: "Google",
        location: "Sunnyvale, California",
      },
    });
    const jobs = [
      ["meta", "Software Engineer", "New York", "Meta"],
      ["amd", "Software Engineer", "Texas", "AMD"],
      ["apple", "Software Engineer", "Seattle", "Apple"],
      ["old", "Intern", "Austin", "Dell"],
    ];
    for (const [id, title, location, company] of jobs) {
      await gw.db.item.create({
        data: { id, type: "JOB", title, location, country: "USA", company, description: "…" },
      });
    }
    await gw.db.item.create({ data: { id: "post1", type: "POST", title: "A post" } });
    const at = (d: string) => new Date(`2026-0${d}T00:00:00Z`);
    await gw.db.interaction.createMany({
      data: [
        { eventId: "e0", memberId: "m1", itemId: "old", action: "APPLY", occurredAt: at("1-01") },
        { eventId: "e1", memberId: "m1", itemId: "meta", action: "APPLY", occurredAt: at("3-01") },
        { eventId: "e2", memberId: "m1", itemId: "amd", action: "VIEW", occurredAt: at("2-01") },
        { eventId: "e3", memberId: "m1", itemId: "post1", action: "APPLY", occurredAt: at("4-01") },
        { eventId: "e4", memberId: "m1", itemId: "amd", action: "SHARE", occurredAt: at("4-02") },
      ],
    });
  });
  after(async () => {
    await gw.stop();
    await pg.drop();
  });

  const query = `query($m: ID!, $c: [ID!]!) { prompt(memberId: $m, task: "job_apply", candidateIds: $c) {
    prefixText prefixTokenIds historyUsed historyAvailable candidates { itemId text tokenIds } labels { answer tokenIds } } }`;

  it("renders the paper's example from stored rows, newest first, only the task's item type and actions", async () => {
    const r = await gql<PromptData>(gw.url, query, { m: "m1", c: ["apple"] });
    assert.equal(r.errors, undefined, JSON.stringify(r.errors));
    const p = r.data?.prompt;
    assert.ok(p);
    assert.equal(p.historyAvailable, 3);
    assert.match(
      p.prefixText,
      /Member Profile: Current position: software engineer, current company: Google, Location: Sunnyvale, California\.\nPast job interaction data:\nMember has applied to the following jobs: \[Title: Software Engineer, Location: New York, Country: USA, Company: Meta, Description: …\], \[Title: Intern, Location: Austin, Country: USA, Company: Dell, Description: …\]\nMember has viewed the following jobs: \[Title: Software Engineer, Location: Texas, Country: USA, Company: AMD, Description: …\]\n$/,
    );
    assert.equal(
      p.candidates[0].text,
      "Question: Will the member apply to the following job: [Title: Software Engineer, Location: Seattle, Country: USA, Company: Apple, Description: …]\nAnswer: The member will",
    );
    assert.ok(p.candidates[0].tokenIds.length > 10);
    assert.deepEqual(
      p.labels.map((l) => l.answer),
      ["apply", "view", "dismiss"],
    );
  });

  it("cuts the history to the task's token budget, dropping the oldest first", async () => {
    const full = await gql<PromptData>(gw.url, query, { m: "m1", c: ["apple"] });
    const budget = (full.data?.prompt.prefixTokenIds.length ?? 0) - 5;
    // Through the API, as a task is edited: the replica forgets its cached definition at once.
    const upsert = (historyPolicy: (typeof JOB_APPLY_TASK)["historyPolicy"]) =>
      gql(gw.url, `mutation($t: TaskInput!) { upsertTask(input: $t) { name } }`, {
        t: { ...JOB_APPLY_TASK, historyPolicy },
      });
    assert.equal((await upsert({ maxItems: 100, maxTokens: budget })).errors, undefined);
    try {
      const cut = await gql<PromptData>(gw.url, query, { m: "m1", c: ["apple"] });
      assert.equal(cut.data?.prompt.historyUsed, 2);
      assert.ok((cut.data?.prompt.prefixTokenIds.length ?? Infinity) <= budget);
      assert.doesNotMatch(cut.data?.prompt.prefixText ?? "", /Intern/);
    } finally {
      await upsert(JOB_APPLY_TASK.historyPolicy);
    }
  });

  it("cuts the history to the prefix budget the served model was trained with (brewgate_prefix_tokens)", async () => {
    const full = await gql<PromptData>(gw.url, query, { m: "m1", c: ["apple"] });
    assert.equal(full.data?.prompt.historyUsed, 3);
    const budget = (full.data?.prompt.prefixTokenIds.length ?? 0) - 5;
    const dir = await mkdtemp(join(tmpdir(), "brewgate-card-"));
    const cfg = JSON.parse(await readFile(join(testModel(), "config.json"), "utf8"));
    await writeFile(join(dir, "config.json"), JSON.stringify({ ...cfg, brewgate_prefix_tokens: budget }));
    const served = await startGateway(
      testConfig({
        DATABASE_URL: pg.url,
        MODEL_DIR: dir,
        TOKENIZER_PATH: join(testModel(), "tokenizer.json"),
        PROMPT_MAX_TOKENS: "4096",
      }),
    );
    try {
      const cut = await gql<PromptData>(served.url, query, { m: "m1", c: ["apple"] });
      assert.equal(cut.errors, undefined, JSON.stringify(cut.errors));
      assert.equal(cut.data?.prompt.historyUsed, 2);
      assert.ok((cut.data?.prompt.prefixTokenIds.length ?? Infinity) <= budget);
      assert.doesNotMatch(cut.data?.prompt.prefixText ?? "", /Intern/);
      // A task's own budget is the task owner's choice, and wins over the model's.
      const own = await gql(served.url, `mutation($t: TaskInput!) { upsertTask(input: $t) { name } }`, {
        t: { ...JOB_APPLY_TASK, historyPolicy: { maxItems: 100, maxTokens: 4096 } },
      });
      assert.equal(own.errors, undefined, JSON.stringify(own.errors));
      const whole = await gql<PromptData>(served.url, query, { m: "m1", c: ["apple"] });
      assert.equal(whole.data?.prompt.historyUsed, 3);
    } finally {
      await gql(served.url, `mutation($t: TaskInput!) { upsertTask(input: $t) { name } }`, {
        t: JOB_APPLY_TASK,
      });
      await served.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("names unknown members, unknown candidates and candidates of the wrong type", async () => {
    const m = await gql(gw.url, query, { m: "ghost", c: ["apple"] });
    assert.equal(m.errors?.[0].extensions?.code, "NOT_FOUND");
    const c = await gql(gw.url, query, { m: "m1", c: ["apple", "nope"] });
    assert.equal(c.errors?.[0].extensions?.code, "NOT_FOUND");
    assert.match(c.errors?.[0].message ?? "", /nope/);
    const t = await gql(gw.url, query, { m: "m1", c: ["post1"] });
    assert.equal(t.errors?.[0].extensions?.code, "BAD_USER_INPUT");
    const d = await gql(gw.url, query, { m: "m1", c: ["apple", "apple"] });
    assert.equal(d.errors?.[0].extensions?.code, "BAD_USER_INPUT");
  });
});
