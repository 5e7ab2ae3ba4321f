import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { startGatewayProcess } from "../support/gateway-process";
import { gql } from "../support/graphql";
import { createTestDatabase, type TestDatabase } from "../support/postgres";
import { waitFor } from "../support/wait";

/**
 * OTEL_TRACES_EXPORTER=otlp, set by environment on a gateway process: its spans reach an OTLP/HTTP
 * collector (here a plain HTTP server that records what it is sent) at /v1/traces.
 */
describe("traces exported over OTLP/HTTP (gateway process)", () => {
  let pg: TestDatabase;
  let collector: Server;
  const received: { path: string; body: string }[] = [];

  before(async () => {
    pg = await createTestDatabase();
    collector = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => {
        body += c;
      });
      req.on("end", () => {
        received.push({ path: req.url ?? "", body });
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((r) => collector.listen(0, "127.0.0.1", r));
  });
  after(async () => {
    await new Promise((r) => collector?.close(r));
    await pg?.drop();
  });

  it("sends the operation's span, named after its root field, as OTEL_SERVICE_NAME", async () => {
    const { port } = collector.address() as AddressInfo;
    const gateway = await startGatewayProcess({
      DATABASE_URL: pg.url,
      IDE_ENABLED: "false",
      OTEL_TRACES_EXPORTER: "otlp",
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      OTEL_SERVICE_NAME: "brewgate-otlp-test",
    });
    try {
      const r = await gql(gateway.url, `{ member(id: "nobody") { id } }`);
      assert.equal(r.errors, undefined, JSON.stringify(r.errors));
    } finally {
      // The batch is flushed at the latest when the gateway stops.
      await gateway.stop();
    }
    await waitFor("the collector to receive spans", async () => received.length > 0);
    const all = received.map((x) => x.body).join("\n");
    assert.ok(received.every((x) => x.path === "/v1/traces"));
    assert.match(all, /brewgate-otlp-test/);
    assert.match(all, /query member/);
  });
});
