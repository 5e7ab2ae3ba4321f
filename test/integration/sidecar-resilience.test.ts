import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { freePort } from "../../dev/kafka-broker";
import { type SidecarProcess, startSidecar } from "../../dev/sidecar-process";
import { type Gateway, startGateway } from "../../src/gateway";
import { InferenceClient } from "../../src/inference/client";
import { testConfig } from "../support/config";
import { seedWelderWorld } from "../support/fixtures";
import { gql } from "../support/graphql";
import { testModel } from "../support/models";
import { createTestDatabase, type TestDatabase } from "../support/postgres";
import { waitFor } from "../support/wait";
import { wsClient } from "../support/ws";

const REC = `{ recommendations(memberId: "m1", task: "job_apply", candidateIds: ["j1", "j2"]) { items { itemId } } }`;

/** A sidecar on a fixed address whose finished Score requests are counted from its log. */
async function sidecarAt(listen: string) {
  const stats = { scores: 0, lines: [] as string[] };
  const proc = await startSidecar({
    modelDir: testModel(),
    listen,
    threads: 1,
    kvBudgetMb: 64,
    onLog: (line) => {
      if (line.startsWith("score ")) stats.scores++;
      stats.lines.push(line);
    },
  });
  return { proc, stats };
}

describe("gateway and sidecar failures", () => {
  let pg: TestDatabase;
  before(async () => {
    pg = await createTestDatabase();
  });
  after(async () => {
    await pg?.drop();
  });

  it("spreads calls over several sidecars round robin", async () => {
    const [a, b] = await Promise.all([sidecarAt("127.0.0.1:0"), sidecarAt("127.0.0.1:0")]);
    const client = new InferenceClient({ addresses: [a.proc.address, b.proc.address] });
    try {
      await client.waitForReady(10_000);
      const req = {
        requestId: "",
        prefixIds: [1, 2, 3],
        candidates: [{ id: "c", ids: [4, 5] }],
        labels: [{ name: "l", ids: [6] }],
      };
      for (let i = 0; i < 10; i++) await client.score(req);
      await waitFor("both sidecars' logs", async () => a.stats.scores + b.stats.scores === 10, 5_000);
      assert.ok(a.stats.scores >= 3 && b.stats.scores >= 3, `a=${a.stats.scores} b=${b.stats.scores}`);
    } finally {
      client.close();
      await Promise.all([a.proc.stop(), b.proc.stop()]);
    }
  });

  it("cancels the sidecar's work when the gRPC caller aborts a Score (test/integration/cancellation.test.ts does it through HTTP)", async () => {
    const { proc, stats } = await sidecarAt("127.0.0.1:0");
    const client = new InferenceClient({ addresses: [proc.address] });
    try {
      // 60 candidates of 2,000 tokens (within the test sidecar's KV budget): about a second of
      // work or more, cancelled a fraction of the way in.
      const ids = Array.from({ length: 2000 }, (_, i) => (i * 7919) % 2000);
      const abort = new AbortController();
      const score = client.score(
        {
          requestId: "abandoned",
          prefixIds: ids.slice(0, 100),
          candidates: Array.from({ length: 60 }, (_, c) => ({ id: `c${c}`, ids })),
          labels: [{ name: "apply", ids: [5] }],
        },
        { signal: abort.signal },
      );
      setTimeout(() => abort.abort(), 150);
      await assert.rejects(score);
      await waitFor("the sidecar to log the Score", async () =>
        stats.lines.some((l) => l.includes("id=abandoned")),
      );
      assert.match(stats.lines.find((l) => l.includes("id=abandoned")) ?? "", /status=cancelled/);
    } finally {
      client.close();
      await proc.stop();
    }
  });

  describe("one gateway, a sidecar that comes and goes", () => {
    let gw: Gateway;
    let listen: string;
    let sidecar: SidecarProcess | undefined;
    before(async () => {
      listen = `127.0.0.1:${await freePort()}`;
      sidecar = (await sidecarAt(listen)).proc;
      gw = await startGateway(
        testConfig({
          DATABASE_URL: pg.url,
          MODEL_DIR: testModel(),
          INFERENCE_ADDRESSES: listen,
          // The mid-stream case asks for 3,000 tokens, a generation still running when the sidecar dies.
          GRAPHQL_MAX_MODEL_COST: "0",
        }),
      );
      await seedWelderWorld(gw.db);
    });
    after(async () => {
      await gw?.stop();
      await sidecar?.stop();
    });

    it("answers UNAVAILABLE while the sidecar is down, stays up, and recovers when it returns", async () => {
      assert.equal((await gql(gw.url, REC)).errors, undefined);
      await sidecar?.stop();
      sidecar = undefined;
      const down = await gql(gw.url, REC);
      assert.equal(down.errors?.[0].extensions?.code, "UNAVAILABLE", JSON.stringify(down.errors));
      assert.match(down.errors?.[0].message ?? "", /sidecar/);
      const base = gw.url.replace(/\/graphql$/, "");
      assert.equal((await fetch(`${base}/healthz`)).status, 200);
      const ready = await fetch(`${base}/readyz`);
      assert.equal(ready.status, 503);
      assert.equal(((await ready.json()) as { checks: Record<string, string> }).checks.database, "ok");

      sidecar = (await sidecarAt(listen)).proc;
      await waitFor(
        "a ranking after the sidecar returned",
        async () => (await gql(gw.url, REC)).errors === undefined,
      );
      assert.equal((await fetch(`${base}/readyz`)).status, 200);
    });

    it("gives a subscriber an error event when the sidecar dies mid-stream, then recovers", async () => {
      const client = wsClient(gw.url);
      try {
        const sub = client.iterate<{ explanation: { delta: string } }>({
          query: `subscription { explanation(memberId: "m1", task: "job_apply", itemId: "j1", maxTokens: 3000) { delta done } }`,
        });
        const first = await sub.next();
        assert.equal(first.done, false);
        sidecar?.process.kill("SIGKILL");
        await sidecar?.exited;
        sidecar = undefined;
        let failure: { message: string; extensions?: Record<string, unknown> } | undefined;
        for (;;) {
          const r = await sub.next();
          if (r.done) break;
          if (r.value.errors) {
            failure = r.value.errors[0] as typeof failure;
            break;
          }
        }
        assert.ok(failure, "the subscriber got no error event");
        assert.equal(failure.extensions?.code, "UNAVAILABLE", JSON.stringify(failure));
        await sub.return?.(undefined);
      } finally {
        await client.dispose();
      }
      sidecar = (await sidecarAt(listen)).proc;
      await waitFor(
        "a ranking after the sidecar was restarted",
        async () => (await gql(gw.url, REC)).errors === undefined,
      );
    });
  });
});
