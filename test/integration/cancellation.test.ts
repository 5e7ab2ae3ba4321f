import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, describe, it } from "node:test";
import { type SidecarProcess, startSidecar } from "../../dev/sidecar-process";
import { type Gateway, startGateway } from "../../src/gateway";
import { InferenceClient } from "../../src/inference/client";
import { testConfig } from "../support/config";
import { testModel } from "../support/models";
import { createTestDatabase, type TestDatabase } from "../support/postgres";
import { waitFor } from "../support/wait";
import { wsClient } from "../support/ws";

/** The sidecar's own account of one finished Score, from its log line. */
interface ScoreLine {
  id: string;
  computed: number;
  totalMs: number;
  status: string;
}

function parseScore(line: string): ScoreLine | null {
  const m = /^score id=(\S+) .*computed=(\d+) .*total_ms=([\d.]+) status=(\w+)/.exec(line);
  return m ? { id: m[1], computed: Number(m[2]), totalMs: Number(m[3]), status: m[4] } : null;
}

const CANDIDATES = 60;
const QUERY = `query($c: [ID!]) { recommendations(memberId: "m1", task: "job_apply", candidateIds: $c, first: 3) { requestId } }`;
const candidateIds = Array.from({ length: CANDIDATES }, (_, i) => `j${i}`);

/** Posts the ranking over plain HTTP; `abortAfterMs` destroys the socket, as a client going away does. */
function post(url: string, abortAfterMs?: number): Promise<"answered" | "aborted"> {
  const body = JSON.stringify({ query: QUERY, variables: { c: candidateIds } });
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "POST", headers: { "content-type": "application/json" } }, (res) => {
      res.resume();
      res.on("end", () => resolve("answered"));
    });
    req.on("error", (err) => (abortAfterMs !== undefined ? resolve("aborted") : reject(err)));
    if (abortAfterMs !== undefined) setTimeout(() => req.destroy(), abortAfterMs);
    req.end(body);
  });
}

describe("a client that goes away cancels its sidecar work", () => {
  let pg: TestDatabase;
  let sidecar: SidecarProcess;
  let gw: Gateway;
  const scores: ScoreLine[] = [];
  /** A full ranking of the 60 candidates, as the sidecar ran it. */
  let full: ScoreLine;
  let fullHttpMs: number;

  before(async () => {
    pg = await createTestDatabase();
    sidecar = await startSidecar({
      modelDir: testModel(),
      threads: 1,
      kvBudgetMb: 64,
      onLog: (line) => {
        const s = parseScore(line);
        if (s) scores.push(s);
      },
    });
    gw = await startGateway(
      testConfig({ DATABASE_URL: pg.url, MODEL_DIR: testModel(), INFERENCE_ADDRESSES: sidecar.address }),
    );
    await gw.db.member.create({ data: { id: "m1", currentPosition: "welder", location: "Gdansk" } });
    // Long descriptions make each candidate's suffix long: a Score of all of them is a lot of
    // work for the sidecar, which a cancellation cuts short.
    const description = Array.from({ length: 220 }, (_, w) => `word${(w * 37) % 101}`).join(" ");
    await gw.db.item.createMany({
      data: candidateIds.map((id) => ({
        id,
        type: "JOB",
        title: `Welder ${id}`,
        description: `${id} ${description}`,
      })),
    });
    const started = Date.now();
    assert.equal(await post(gw.url), "answered");
    fullHttpMs = Date.now() - started;
    await waitFor("the full ranking's Score in the sidecar log", async () => scores.length === 1);
    full = scores[0];
    assert.equal(full.status, "ok");
  });
  after(async () => {
    await gw?.stop();
    await sidecar?.stop();
    await pg?.drop();
  });

  /** The next Score the sidecar finishes, its request id no longer known to it. */
  async function nextScore(before: number): Promise<ScoreLine> {
    await waitFor("the abandoned ranking's Score in the sidecar log", async () => scores.length > before);
    const line = scores[before];
    const direct = new InferenceClient({ addresses: [sidecar.address] });
    try {
      assert.equal(await direct.abort(line.id), false, "the sidecar still holds the abandoned request");
    } finally {
      direct.close();
    }
    return line;
  }

  it("over HTTP: closing the request stops the Score in the sidecar before it is done", async () => {
    const before = scores.length;
    // Into the Score's work: past the gateway's own share of the full ranking, a third of the
    // sidecar's time in.
    const gatewayMs = Math.max(0, fullHttpMs - full.totalMs);
    assert.equal(await post(gw.url, gatewayMs + full.totalMs / 3), "aborted");
    const cut = await nextScore(before);
    assert.equal(cut.status, "cancelled", JSON.stringify({ cut, full }));
    assert.ok(cut.computed < full.computed, JSON.stringify({ cut, full }));
  });

  it("over WebSocket: closing the socket during a query stops its Score", async () => {
    const before = scores.length;
    const client = wsClient(gw.url);
    const results = client.iterate({ query: QUERY, variables: { c: candidateIds } });
    const first = results.next().catch(() => null);
    await new Promise((r) => setTimeout(r, Math.max(0, fullHttpMs - full.totalMs) + full.totalMs / 3));
    await client.dispose();
    await first;
    const cut = await nextScore(before);
    assert.equal(cut.status, "cancelled", JSON.stringify({ cut, full }));
    assert.ok(cut.computed < full.computed, JSON.stringify({ cut, full }));
  });
});
