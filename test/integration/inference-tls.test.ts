import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { SidecarProcess } from "../../dev/sidecar-process";
import { loadConfig } from "../../src/config";
import { DomainError } from "../../src/domain/errors";
import { type Gateway, startGateway } from "../../src/gateway";
import { InferenceClient } from "../../src/inference/client";
import { type InferenceTls, readInferenceTls } from "../../src/inference/tls";
import { testConfig } from "../support/config";
import { seedWelderWorld } from "../support/fixtures";
import { gql } from "../support/graphql";
import { testModel } from "../support/models";
import { makePki, type Pki } from "../support/pki";
import { createTestDatabase, type TestDatabase } from "../support/postgres";
import { startTestSidecar } from "../support/sidecar";

const SCORE = {
  requestId: "",
  prefixIds: [1, 2, 3],
  candidates: [{ id: "c", ids: [4, 5] }],
  labels: [{ name: "l", ids: [6] }],
};

/** The TLS options the gateway derives from these INFERENCE_TLS_* variables. */
function tlsFrom(vars: Record<string, string>): InferenceTls | undefined {
  return readInferenceTls(testConfig(vars));
}

/** A ModelInfo call that must be refused; one attempt, so the first refusal is the answer. */
async function refusal(address: string, tls: InferenceTls | undefined): Promise<DomainError> {
  const client = new InferenceClient({ addresses: [address], tls, maxAttempts: 1 });
  try {
    await client.modelInfo({ timeoutMs: 10_000 });
  } catch (err) {
    assert.ok(err instanceof DomainError, String(err));
    return err;
  } finally {
    client.close();
  }
  assert.fail("the sidecar answered a client it should have refused");
}

/** A client with these options scores and reads ModelInfo. */
async function served(address: string, tls: InferenceTls | undefined): Promise<void> {
  const client = new InferenceClient({ addresses: [address], tls });
  try {
    await client.waitForReady(10_000);
    assert.equal((await client.modelInfo()).modelId, "llama-tiny-1");
    const res = await client.score(SCORE);
    assert.equal(res.candidates.length, 1);
    assert.equal(res.candidates[0].labelLogprobs.length, 1);
    assert.ok(res.candidates[0].labelLogprobs[0] < 0);
  } finally {
    client.close();
  }
}

describe("TLS on the link from the gateway to the sidecar", () => {
  let pki: Pki;
  before(() => {
    pki = makePki();
  });
  after(() => {
    if (pki) rmSync(pki.dir, { recursive: true, force: true });
  });

  describe("server TLS (--tls-cert, --tls-key)", () => {
    let sidecar: SidecarProcess;
    before(async () => {
      sidecar = await startTestSidecar({ args: ["--tls-cert", pki.serverCert, "--tls-key", pki.serverKey] });
    });
    after(async () => {
      await sidecar?.stop();
    });

    it("serves Score and ModelInfo to a client that trusts INFERENCE_TLS_CA", async () => {
      await served(sidecar.address, tlsFrom({ INFERENCE_TLS_CA: pki.ca }));
    });

    it("checks the certificate's name: INFERENCE_TLS_SERVER_NAME=localhost passes, a name it lacks is refused", async () => {
      await served(
        sidecar.address,
        tlsFrom({ INFERENCE_TLS_CA: pki.ca, INFERENCE_TLS_SERVER_NAME: "localhost" }),
      );
      const err = await refusal(
        sidecar.address,
        tlsFrom({ INFERENCE_TLS_CA: pki.ca, INFERENCE_TLS_SERVER_NAME: "sidecar.elsewhere.test" }),
      );
      assert.equal(err.code, "UNAVAILABLE", err.message);
      assert.match(err.message, /sidecar\.elsewhere\.test\. is not in the cert's altnames/);
    });

    it("refuses a plaintext client (UNAVAILABLE)", async () => {
      const err = await refusal(sidecar.address, undefined);
      assert.equal(err.code, "UNAVAILABLE", err.message);
      assert.match(err.message, /inference sidecar unavailable/);
    });

    it("is refused by a client that trusts another CA (UNAVAILABLE)", async () => {
      const err = await refusal(sidecar.address, tlsFrom({ INFERENCE_TLS_CA: pki.otherCa }));
      assert.equal(err.code, "UNAVAILABLE", err.message);
      assert.match(err.message, /unable to verify the first certificate/);
    });
  });

  describe("mutual TLS (--tls-client-ca)", () => {
    let sidecar: SidecarProcess;
    before(async () => {
      sidecar = await startTestSidecar({
        args: ["--tls-cert", pki.serverCert, "--tls-key", pki.serverKey, "--tls-client-ca", pki.ca],
      });
    });
    after(async () => {
      await sidecar?.stop();
    });

    it("serves a client whose certificate the CA signed", async () => {
      await served(
        sidecar.address,
        tlsFrom({
          INFERENCE_TLS_CA: pki.ca,
          INFERENCE_TLS_CERT: pki.clientCert,
          INFERENCE_TLS_KEY: pki.clientKey,
        }),
      );
    });

    // The client sees only a failed connection ("Failed to connect"): what makes these two
    // refusals the certificate's doing is that the same CA-trusting client is served by the
    // server-TLS sidecar above, and a CA-signed certificate by this one.
    it("refuses a client without a certificate (UNAVAILABLE)", async () => {
      const err = await refusal(sidecar.address, tlsFrom({ INFERENCE_TLS_CA: pki.ca }));
      assert.equal(err.code, "UNAVAILABLE", err.message);
    });

    it("refuses a client whose certificate another CA signed (UNAVAILABLE)", async () => {
      const err = await refusal(
        sidecar.address,
        tlsFrom({
          INFERENCE_TLS_CA: pki.ca,
          INFERENCE_TLS_CERT: pki.otherClientCert,
          INFERENCE_TLS_KEY: pki.otherClientKey,
        }),
      );
      assert.equal(err.code, "UNAVAILABLE", err.message);
    });

    describe("through the gateway's GraphQL door", () => {
      let pg: TestDatabase;
      let gw: Gateway;
      before(async () => {
        pg = await createTestDatabase();
        gw = await startGateway(
          testConfig({
            DATABASE_URL: pg.url,
            MODEL_DIR: testModel(),
            INFERENCE_ADDRESSES: sidecar.address,
            INFERENCE_TLS_CA: pki.ca,
            INFERENCE_TLS_CERT: pki.clientCert,
            INFERENCE_TLS_KEY: pki.clientKey,
            INFERENCE_TLS_SERVER_NAME: "localhost",
          }),
        );
        await seedWelderWorld(gw.db);
      });
      after(async () => {
        await gw?.stop();
        await pg?.drop();
      });

      it("ranks with a gateway configured with INFERENCE_TLS_CA, _CERT, _KEY and _SERVER_NAME", async () => {
        const r = await gql<{ recommendations: { model: string; items: { itemId: string }[] } }>(
          gw.url,
          `{ recommendations(memberId: "m1", task: "job_apply", candidateIds: ["j1", "j2"]) { model items { itemId } } }`,
        );
        assert.equal(r.errors, undefined, JSON.stringify(r.errors));
        assert.equal(r.data?.recommendations.model, "llama-tiny-1");
        assert.deepEqual(r.data?.recommendations.items.map((i) => i.itemId).sort(), ["j1", "j2"]);
      });
    });
  });

  describe("bad configuration", () => {
    it("loadConfig names INFERENCE_TLS_CERT and INFERENCE_TLS_KEY when one comes alone, and INFERENCE_TLS_CA when both come without it", () => {
      assert.throws(
        () => loadConfig({ INFERENCE_TLS_CA: pki.ca, INFERENCE_TLS_CERT: pki.clientCert }),
        /INFERENCE_TLS_CERT and INFERENCE_TLS_KEY .*go together: INFERENCE_TLS_CERT is set, INFERENCE_TLS_KEY is not/,
      );
      assert.throws(
        () => loadConfig({ INFERENCE_TLS_CA: pki.ca, INFERENCE_TLS_KEY: pki.clientKey }),
        /INFERENCE_TLS_KEY is set, INFERENCE_TLS_CERT is not/,
      );
      assert.throws(
        () => loadConfig({ INFERENCE_TLS_CERT: pki.clientCert, INFERENCE_TLS_KEY: pki.clientKey }),
        /INFERENCE_TLS_CERT and INFERENCE_TLS_KEY need INFERENCE_TLS_CA/,
      );
      assert.throws(
        () => loadConfig({ INFERENCE_TLS_SERVER_NAME: "localhost" }),
        /INFERENCE_TLS_SERVER_NAME needs INFERENCE_TLS_CA/,
      );
      assert.equal(readInferenceTls(loadConfig({})), undefined, "no INFERENCE_TLS_CA: plaintext");
    });

    it("reading the files names the variable and the path of one that is missing or of the wrong kind", () => {
      const missing = join(pki.dir, "missing-ca.pem");
      assert.throws(
        () => tlsFrom({ INFERENCE_TLS_CA: missing }),
        (err: Error) => err.message.startsWith(`INFERENCE_TLS_CA: cannot read ${missing}: ENOENT`),
      );
      assert.throws(
        () => tlsFrom({ INFERENCE_TLS_CA: pki.clientKey }),
        (err: Error) => err.message.startsWith(`INFERENCE_TLS_CA: ${pki.clientKey} holds no PEM certificate`),
      );
      assert.throws(
        () =>
          tlsFrom({
            INFERENCE_TLS_CA: pki.ca,
            INFERENCE_TLS_CERT: pki.clientCert,
            INFERENCE_TLS_KEY: missing,
          }),
        (err: Error) => err.message.startsWith(`INFERENCE_TLS_KEY: cannot read ${missing}`),
      );
      assert.throws(
        () =>
          tlsFrom({
            INFERENCE_TLS_CA: pki.ca,
            INFERENCE_TLS_CERT: pki.clientCert,
            INFERENCE_TLS_KEY: pki.otherClientKey,
          }),
        (err: Error) =>
          err.message.startsWith(
            `INFERENCE_TLS_CERT (${pki.clientCert}) and INFERENCE_TLS_KEY (${pki.otherClientKey}) are not a PEM certificate and its private key`,
          ),
      );
    });

    it("the sidecar stops at start, naming the flag and the file, when --tls-cert's file is missing", async () => {
      const missing = join(pki.dir, "missing-server.pem");
      await assert.rejects(
        startTestSidecar({ args: ["--tls-cert", missing, "--tls-key", pki.serverKey] }),
        (err: Error) => {
          assert.match(err.message, /exited with code 1 before it was ready/);
          assert.ok(
            err.message.includes(`--tls-cert: cannot read '${missing}': No such file or directory`),
            err.message,
          );
          return true;
        },
      );
    });

    it("the sidecar refuses --tls-cert without --tls-key (exit 2, a bad flag)", async () => {
      await assert.rejects(startTestSidecar({ args: ["--tls-cert", pki.serverCert] }), (err: Error) => {
        assert.match(err.message, /exited with code 2 before it was ready/);
        assert.ok(err.message.includes(`--tls-cert '${pki.serverCert}' needs --tls-key`), err.message);
        return true;
      });
    });
  });
});
