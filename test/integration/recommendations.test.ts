import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { SidecarProcess } from "../../dev/sidecar-process";
import { retrieveCandidates } from "../../src/db/retrieval";
import { JOB_APPLY_TASK } from "../../src/domain/task-definition";
import { type Gateway, startGateway } from "../../src/gateway";
import { InferenceClient } from "../../src/inference/client";
import { testConfig } from "../support/config";
import { gql } from "../support/graphql";
import { testModel } from "../support/models";
import { createTestDatabase, type TestDatabase } from "../support/postgres";
import { startTestSidecar } from "../support/sidecar";

type Rec = {
  recommendations: {
    requestId: string;
    impressionId: string;
    model: string;
    promptVersion: string;
    scored: number;
    items: {
      rank: number;
      score: number;
      itemId: string;
      item: { title: string };
      actions: { action: string; probability: number; logprob: number }[];
    }[];
    usage: { promptTokens: number; cachedTokens: number };
  };
};

const REC = `query($m: ID!, $c: [ID!], $f: Int) { recommendations(memberId: $m, task: "job_apply", candidateIds: $c, first: $f) {
  requestId impressionId model promptVersion scored usage { promptTokens cachedTokens computedTokens }
  items { rank score itemId item { title } actions { action answer positive probability logprob } } } }`;

describe("recommendations through a real sidecar", () => {
  let pg: TestDatabase;
  let sidecar: SidecarProcess;
  let gw: Gateway;
  before(async () => {
    [pg, sidecar] = await Promise.all([createTestDatabase(), startTestSidecar()]);
    gw = await startGateway(
      testConfig({ DATABASE_URL: pg.url, MODEL_DIR: testModel(), INFERENCE_ADDRESSES: sidecar.address }),
    );
    await gw.db.member.create({
      data: {
        id: "m1",
        currentPosition: "software engineer",
        currentCompany: "Google",
        location: "Sunnyvale",
      },
    });
    for (let i = 0; i < 8; i++) {
      await gw.db.item.create({
        data: {
          id: `j${i}`,
          type: "JOB",
          title: `Engineer ${i}`,
          company: `Co ${i}`,
          location: "Seattle",
          createdAt: new Date(Date.UTC(2026, 0, 1 + i)),
        },
      });
    }
    await gw.db.interaction.create({
      data: { eventId: "e1", memberId: "m1", itemId: "j7", action: "APPLY", occurredAt: new Date() },
    });
  });
  after(async () => {
    await gw?.stop();
    await sidecar?.stop();
    await pg?.drop();
  });

  it("ranks given candidates by P(apply) and matches a direct Score call on the same prompt", async () => {
    const ids = ["j0", "j1", "j2", "j3"];
    const r = await gql<Rec>(gw.url, REC, { m: "m1", c: ids, f: 4 });
    assert.equal(r.errors, undefined, JSON.stringify(r.errors));
    const rec = r.data?.recommendations;
    assert.ok(rec);
    assert.equal(rec.model, "llama-tiny-1");
    assert.equal(rec.scored, 4);
    assert.deepEqual(
      rec.items.map((i) => i.rank),
      [1, 2, 3, 4],
    );
    for (let i = 1; i < rec.items.length; i++) assert.ok(rec.items[i - 1].score >= rec.items[i].score);

    // The same prompt, sent straight to the sidecar.
    const p = await gql<{
      prompt: {
        prefixTokenIds: number[];
        candidates: { itemId: string; tokenIds: number[] }[];
        labels: { tokenIds: number[] }[];
      };
    }>(
      gw.url,
      `query($c: [ID!]!) { prompt(memberId: "m1", task: "job_apply", candidateIds: $c) { prefixTokenIds candidates { itemId tokenIds } labels { tokenIds } } }`,
      { c: ids },
    );
    const prompt = p.data?.prompt;
    assert.ok(prompt);
    const direct = new InferenceClient({ addresses: [sidecar.address] });
    try {
      const res = await direct.score({
        requestId: "direct",
        prefixIds: prompt.prefixTokenIds,
        candidates: prompt.candidates.map((c) => ({ id: c.itemId, ids: c.tokenIds })),
        labels: prompt.labels.map((l, i) => ({ name: String(i), ids: l.tokenIds })),
      });
      for (const c of res.candidates) {
        const viaGateway = rec.items.find((i) => i.itemId === c.id);
        assert.ok(viaGateway);
        c.labelLogprobs.forEach((lp, i) => {
          assert.ok(
            Math.abs(viaGateway.actions[i].logprob - lp) < 1e-4,
            `${c.id} label ${i}: ${viaGateway.actions[i].logprob} vs ${lp}`,
          );
        });
        const weights = c.labelLogprobs.map(Math.exp);
        const pApply = weights[0] / weights.reduce((a, b) => a + b, 0);
        assert.ok(Math.abs(viaGateway.score - pApply) < 1e-4);
      }
    } finally {
      direct.close();
    }
  });

  it("reuses the member's prefix from the sidecar's cache on the next ranking", async () => {
    const first = await gql<Rec>(gw.url, REC, { m: "m1", c: ["j0", "j1"], f: 2 });
    const second = await gql<Rec>(gw.url, REC, { m: "m1", c: ["j2", "j3"], f: 2 });
    assert.ok(
      (second.data?.recommendations.usage.cachedTokens ?? 0) > 0,
      JSON.stringify(second.data?.recommendations.usage),
    );
    assert.ok(first.data?.recommendations.usage.promptTokens);
  });

  it("counts rankings in metrics by outcome and root field, never by a name the client chose", async () => {
    // Through the door Prometheus uses.
    const read = async () => (await fetch(gw.url.replace(/\/graphql$/, "/metrics"))).text();
    const count = (text: string, re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
    const before = await read();
    const ok = await gql<Rec>(gw.url, `query client_chosen_name ${REC.slice(REC.indexOf("("))}`, {
      m: "m1",
      c: ["j0"],
      f: 1,
    });
    assert.equal(ok.errors, undefined, JSON.stringify(ok.errors));
    const missing = await gql<Rec>(gw.url, REC, { m: "nobody", c: ["j0"], f: 1 });
    assert.equal(missing.errors?.[0].extensions?.code, "NOT_FOUND");
    const after = await read();
    const okCount = /^brewgate_ranking_seconds_count\{outcome="ok"\} (\d+)/m;
    const notFound = /^brewgate_ranking_seconds_count\{outcome="not_found"\} (\d+)/m;
    assert.equal(count(after, okCount) - count(before, okCount), 1);
    assert.equal(count(after, notFound) - count(before, notFound), 1);
    const field =
      /^brewgate_graphql_requests_total\{type="query",field="recommendations",outcome="ok"\} (\d+)/m;
    assert.equal(count(after, field) - count(before, field), 1);
    assert.doesNotMatch(after, /client_chosen_name/);
  });

  it("retrieves candidates when none are given: newest items of the task's type the member has not touched", async () => {
    const r = await gql<Rec>(gw.url, REC, { m: "m1", f: 3 });
    assert.equal(r.errors, undefined, JSON.stringify(r.errors));
    assert.equal(r.data?.recommendations.scored, 7, "j7 was applied to and is left out");
    assert.ok(!r.data?.recommendations.items.some((i) => i.itemId === "j7"));
    assert.equal(r.data?.recommendations.items.length, 3);
  });

  it("retrieval takes the newest items of the task's type, skips those touched, and stops at the limit", async () => {
    await gw.db.item.create({
      data: { id: "p1", type: "POST", title: "A post", createdAt: new Date(Date.UTC(2026, 5, 1)) },
    });
    // Same age as j6: the id breaks the tie.
    await gw.db.item.create({
      data: { id: "j6a", type: "JOB", title: "Engineer 6a", createdAt: new Date(Date.UTC(2026, 0, 7)) },
    });
    try {
      assert.deepEqual(await retrieveCandidates(gw.db, "m1", JOB_APPLY_TASK, 4), ["j6", "j6a", "j5", "j4"]);
      assert.deepEqual(await retrieveCandidates(gw.db, "nobody", JOB_APPLY_TASK, 2), ["j7", "j6"]);
    } finally {
      await gw.db.item.deleteMany({ where: { id: { in: ["p1", "j6a"] } } });
    }
  });

  it("records each served ranking as an impression", async () => {
    const before = Date.now();
    const r = await gql<Rec>(gw.url, REC, { m: "m1", c: ["j4", "j5"], f: 1 });
    const rec = r.data?.recommendations;
    assert.ok(rec);
    // Written behind the answer.
    await gw.impressions.flush();
    const imp = await gw.db.impression.findUniqueOrThrow({ where: { id: rec.impressionId } });
    assert.equal(imp.requestId, rec.requestId);
    assert.equal(imp.memberId, "m1");
    assert.equal(imp.taskName, "job_apply");
    assert.ok(imp.createdAt.getTime() >= before - 1000 && imp.createdAt.getTime() <= Date.now() + 1000);
    assert.equal(imp.model, rec.model);
    assert.match(rec.promptVersion, /^[0-9a-f]{12}$/);
    assert.equal(imp.promptVersion, rec.promptVersion);
    const shown = imp.candidates as {
      itemId: string;
      rank: number;
      score: number;
      probabilities: Record<string, number>;
    }[];
    assert.deepEqual(
      shown.map((c) => c.itemId),
      [rec.items[0].itemId],
    );
    assert.ok(Math.abs((shown[0].probabilities.APPLY ?? 0) - rec.items[0].score) < 1e-9);
  });

  it("records every ranking of a burst answered together, each once", async () => {
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => gql<Rec>(gw.url, REC, { m: "m1", c: ["j1", "j2", "j3"], f: 2 })),
    );
    const ids = answers.map((a) => a.data?.recommendations.impressionId as string);
    assert.equal(new Set(ids).size, 6);
    await gw.impressions.flush();
    const rows = await gw.db.impression.findMany({ where: { id: { in: ids } } });
    assert.equal(rows.length, 6);
    for (const a of answers) {
      const rec = a.data?.recommendations;
      const row = rows.find((x) => x.id === rec?.impressionId);
      assert.ok(rec && row);
      assert.equal(row.requestId, rec.requestId);
      assert.deepEqual(
        (row.candidates as { itemId: string }[]).map((c) => c.itemId),
        rec.items.map((i) => i.itemId),
      );
    }
  });

  it("answers bad arguments with BAD_USER_INPUT or NOT_FOUND", async () => {
    const badFirst = await gql(gw.url, REC, { m: "m1", c: ["j0"], f: 0 });
    assert.equal(badFirst.errors?.[0].extensions?.code, "BAD_USER_INPUT");
    const ghost = await gql(gw.url, REC, { m: "ghost", f: 3 });
    assert.equal(ghost.errors?.[0].extensions?.code, "NOT_FOUND");
    const unknownItem = await gql(gw.url, REC, { m: "m1", c: ["zzz"] });
    assert.equal(unknownItem.errors?.[0].extensions?.code, "NOT_FOUND");
  });
});
