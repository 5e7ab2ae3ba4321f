import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Client } from "graphql-ws";
import type { SidecarProcess } from "../../dev/sidecar-process";
import { type Gateway, startGateway } from "../../src/gateway";
import { InferenceClient } from "../../src/inference/client";
import { TextTokenizer } from "../../src/prompt/tokenizer";
import { EXPLANATION_CUE } from "../../src/ranking/explain";
import { testConfig } from "../support/config";
import { gql } from "../support/graphql";
import { testModel } from "../support/models";
import { createTestDatabase, type TestDatabase } from "../support/postgres";
import { startTestSidecar } from "../support/sidecar";
import { wsClient } from "../support/ws";

type Ev = {
  requestId: string;
  answer: string;
  probability: number;
  delta: string;
  done: boolean;
  finishReason: string | null;
};
const SUB = `subscription($m: ID!, $i: ID!, $n: Int) { explanation(memberId: $m, task: "job_apply", itemId: $i, maxTokens: $n) {
  requestId answer probability delta done finishReason } }`;

describe("explanation subscription over graphql-ws with a real sidecar", () => {
  let pg: TestDatabase;
  let sidecar: SidecarProcess;
  let gw: Gateway;
  let client: Client;
  before(async () => {
    [pg, sidecar] = await Promise.all([createTestDatabase(), startTestSidecar()]);
    gw = await startGateway(
      testConfig({
        DATABASE_URL: pg.url,
        MODEL_DIR: testModel(),
        INFERENCE_ADDRESSES: sidecar.address,
        // The cancellation case asks for 3,000 tokens, a long generation to cut short.
        GRAPHQL_MAX_MODEL_COST: "0",
      }),
    );
    await gw.db.member.create({ data: { id: "m1", currentPosition: "data engineer", location: "Berlin" } });
    await gw.db.item.create({
      data: { id: "j1", type: "JOB", title: "Data Engineer", company: "Zalando", location: "Berlin" },
    });
    client = wsClient(gw.url);
  });
  after(async () => {
    await client?.dispose();
    await gw?.stop();
    await sidecar?.stop();
    await pg?.drop();
  });

  it("streams deltas that join into the text of the generated tokens, then a final event", async () => {
    const events: Ev[] = [];
    for await (const r of client.iterate<{ explanation: Ev }>({
      query: SUB,
      variables: { m: "m1", i: "j1", n: 24 },
    })) {
      assert.equal(r.errors, undefined, JSON.stringify(r.errors));
      events.push(r.data?.explanation as Ev);
    }
    const last = events.at(-1);
    assert.ok(last?.done);
    assert.equal(last?.finishReason, "LENGTH");
    assert.ok(events.slice(0, -1).every((e) => !e.done && e.finishReason === null));
    assert.ok(["apply", "view", "dismiss"].includes(events[0].answer));
    assert.ok(events.every((e) => e.requestId === events[0].requestId));

    // The same generation straight from the sidecar (greedy, so identical), decoded in one go:
    // the deltas must add up to exactly that text. A random model emits arbitrary bytes, so the
    // text may hold U+FFFD for invalid UTF-8; the deltas must never add one of their own.
    const tk = await TextTokenizer.fromFile(join(testModel(), "tokenizer.json"));
    const p = await gql<{ prompt: { prefixTokenIds: number[]; candidates: { text: string }[] } }>(
      gw.url,
      `{ prompt(memberId: "m1", task: "job_apply", candidateIds: ["j1"]) { prefixTokenIds candidates { text } } }`,
    );
    const prompt = p.data?.prompt;
    assert.ok(prompt);
    const tail = await tk.encode(`${prompt.candidates[0].text} ${events[0].answer}.${EXPLANATION_CUE}`);
    const direct = new InferenceClient({ addresses: [sidecar.address] });
    const ids: number[] = [];
    try {
      for await (const ev of direct.generate({
        requestId: "",
        promptIds: [...prompt.prefixTokenIds, ...tail],
        maxTokens: 24,
      })) {
        if (ev.kind === "token" && ev.id !== tk.eosId) ids.push(ev.id);
      }
    } finally {
      direct.close();
    }
    assert.equal(events.map((e) => e.delta).join(""), await tk.decode(ids));

    const metrics = await gw.metrics.registry.metrics();
    assert.match(metrics, /^brewgate_explanation_first_token_seconds_count [1-9]/m);
    assert.match(metrics, /^brewgate_explanation_seconds_count\{outcome="ok"\} [1-9]/m);
  });

  it("cancels the generation in the sidecar when the client unsubscribes", async () => {
    const sub = client.iterate<{ explanation: Ev }>({ query: SUB, variables: { m: "m1", i: "j1", n: 3000 } });
    const first = await sub.next();
    const requestId = (first.value as { data: { explanation: Ev } }).data.explanation.requestId;
    await sub.return?.(undefined);
    // 3000 tokens take seconds on this model; a request the sidecar still runs is found by Abort.
    // Once the cancellation has reached it, its work and KV memory are gone and Abort finds nothing.
    await new Promise((r) => setTimeout(r, 200));
    const direct = new InferenceClient({ addresses: [sidecar.address] });
    try {
      assert.equal(await direct.abort(requestId), false, "the generation is still running in the sidecar");
    } finally {
      direct.close();
    }
  });

  it("reports bad arguments as GraphQL errors on the subscription", async () => {
    const run = async (variables: Record<string, unknown>) => {
      const results = [];
      for await (const r of client.iterate<{ explanation: Ev }>({ query: SUB, variables })) results.push(r);
      return results;
    };
    // Refused before the stream starts, and found out once it started (the item is looked up
    // then): either way one result carrying the error, then the end of the stream.
    const badTokens = await run({ m: "m1", i: "j1", n: 0 });
    assert.equal(badTokens.length, 1);
    assert.equal(badTokens[0].errors?.[0].extensions?.code, "BAD_USER_INPUT");
    const unknownItem = await run({ m: "m1", i: "nope", n: 5 });
    assert.equal(unknownItem.length, 1);
    assert.equal(unknownItem[0].errors?.[0].extensions?.code, "NOT_FOUND");
    assert.match(unknownItem[0].errors?.[0].message ?? "", /nope/);
  });
});
