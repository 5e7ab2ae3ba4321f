import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { type SidecarProcess, startSidecar } from "../../dev/sidecar-process";
import { type Gateway, startGateway } from "../../src/gateway";
import { testConfig } from "../support/config";
import { seedWelderWorld } from "../support/fixtures";
import { gqlResponse } from "../support/graphql";
import { testModel } from "../support/models";
import { createTestDatabase, type TestDatabase } from "../support/postgres";
import { waitFor } from "../support/wait";

const REC = `query { recommendations(memberId: "m1", task: "job_apply", candidateIds: ["j1", "j2"]) { items { itemId } } }`;

/** One ranking's spans, exported in memory, and the trace context the sidecar was sent. */
describe("traces of a ranking (in-memory exporter, real sidecar)", () => {
  let pg: TestDatabase;
  let sidecar: SidecarProcess;
  let gw: Gateway;
  const exporter = new InMemorySpanExporter();
  const sidecarLines: string[] = [];

  before(async () => {
    pg = await createTestDatabase();
    sidecar = await startSidecar({
      modelDir: testModel(),
      threads: 1,
      kvBudgetMb: 64,
      onLog: (line) => sidecarLines.push(line),
    });
    gw = await startGateway(
      testConfig({ DATABASE_URL: pg.url, MODEL_DIR: testModel(), INFERENCE_ADDRESSES: sidecar.address }),
      undefined,
      { spanExporter: exporter },
    );
    await seedWelderWorld(gw.db);
  });
  after(async () => {
    await gw?.stop();
    await sidecar?.stop();
    await pg?.drop();
  });

  /** Runs one ranking and returns its trace's spans once the operation's span has ended. */
  const traceOf = async (headers: Record<string, string>) => {
    exporter.reset();
    const r = await gqlResponse(gw.url, REC, undefined, headers);
    assert.equal(r.body.errors, undefined, JSON.stringify(r.body.errors));
    let root: ReadableSpan | undefined;
    await waitFor("the operation's span", async () => {
      root = exporter.getFinishedSpans().find((s) => s.name === "query recommendations");
      return root !== undefined;
    });
    const spans = exporter
      .getFinishedSpans()
      .filter((s) => s.spanContext().traceId === root?.spanContext().traceId);
    return { root: root as ReadableSpan, spans };
  };

  const childrenOf = (spans: ReadableSpan[], parent: ReadableSpan) =>
    spans.filter((s) => s.parentSpanContext?.spanId === parent.spanContext().spanId).map((s) => s.name);

  it("continues the caller's trace: operation -> ranking -> database read, prompt build, Score", async () => {
    const traceId = randomBytes(16).toString("hex");
    const callerSpan = randomBytes(8).toString("hex");
    const { root, spans } = await traceOf({ traceparent: `00-${traceId}-${callerSpan}-01` });

    assert.equal(root.spanContext().traceId, traceId, "the caller's trace id");
    assert.equal(root.parentSpanContext?.spanId, callerSpan, "the caller's span is the parent");
    assert.equal(root.attributes["graphql.operation.type"], "query");
    assert.equal(root.attributes["http.response.status_code"], 200);

    assert.deepEqual(childrenOf(spans, root), ["ranking"]);
    const ranking = spans.find((s) => s.name === "ranking") as ReadableSpan;
    assert.deepEqual(childrenOf(spans, ranking).sort(), [
      "db.prompt_rows",
      "inference.Score",
      "prompt.build",
    ]);
    const score = spans.find((s) => s.name === "inference.Score") as ReadableSpan;
    assert.equal(score.attributes["rpc.method"], "Score");
    assert.equal(score.attributes["brewgate.sidecar"], sidecar.address);
    const build = spans.find((s) => s.name === "prompt.build") as ReadableSpan;
    assert.ok(Number(build.attributes["brewgate.prefix_tokens"]) > 0);

    // The sidecar got the Score span's context in the gRPC metadata and logged it with the call.
    const expected = `trace_id=${traceId} span_id=${score.spanContext().spanId}`;
    await waitFor("the sidecar's log line", async () => sidecarLines.some((l) => l.includes(expected)));
    assert.match(sidecarLines.find((l) => l.includes(expected)) ?? "", /^score /);
  });

  it("starts a trace when the caller sends none, and marks a failed ranking's spans as errors", async () => {
    const { root } = await traceOf({});
    assert.equal(root.parentSpanContext, undefined);

    exporter.reset();
    const r = await gqlResponse(
      gw.url,
      `{ recommendations(memberId: "nobody", task: "job_apply", candidateIds: ["j1"]) { items { itemId } } }`,
    );
    assert.equal(r.body.errors?.[0].extensions?.code, "NOT_FOUND");
    await waitFor("the failed ranking's span", async () =>
      exporter.getFinishedSpans().some((s) => s.name === "ranking"),
    );
    const ranking = exporter.getFinishedSpans().find((s) => s.name === "ranking") as ReadableSpan;
    assert.equal(ranking.status.code, 2, "SpanStatusCode.ERROR");
    assert.match(ranking.status.message ?? "", /Member 'nobody' does not exist/);
  });
});
