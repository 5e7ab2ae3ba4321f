import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Browser } from "playwright-core";
import { seedDemoData } from "../../dev/demo-seed";
import type { SidecarProcess } from "../../dev/sidecar-process";
import type { Gateway } from "../../src/gateway";
import { launchChromium } from "../support/browser";
import { gql } from "../support/graphql";
import { type LocalRunGateway, startLocalRunGateway } from "../support/local-run";
import { testModel } from "../support/models";
import { createTestDatabase, type TestDatabase } from "../support/postgres";
import { startTestSidecar } from "../support/sidecar";

describe("the GraphQL IDE in a real browser", () => {
  let pg: TestDatabase;
  let sidecar: SidecarProcess;
  let gw: Gateway;
  let browser: Browser;
  let local: LocalRunGateway | undefined;
  before(async () => {
    [pg, sidecar] = await Promise.all([createTestDatabase(), startTestSidecar()]);
    // As `npm start` runs it: authentication required, and the IDE sends the development token.
    local = await startLocalRunGateway(
      { DATABASE_URL: pg.url, MODEL_DIR: testModel(), INFERENCE_ADDRESSES: sidecar.address },
      "member-1",
    );
    gw = local.gw;
    // Without the token the same query is refused: what the IDE shows below came with it.
    const anonymous = await gql(gw.url, "{ tasks { name } }");
    assert.equal(anonymous.errors?.[0].extensions?.code, "UNAUTHENTICATED");
    await seedDemoData(gw.db, {
      members: 3,
      items: 12,
      interactions: 20,
      impressions: 5,
      shownPerImpression: 4,
    });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await local?.stop();
    await sidecar?.stop();
    await pg?.drop();
  });

  it("says the model is random, ranks jobs and streams an explanation, all from bundled assets", async () => {
    const page = await browser.newPage();
    const offsite: string[] = [];
    page.on("request", (r) => {
      if (!r.url().startsWith(gw.url.replace(/\/graphql$/, ""))) offsite.push(r.url());
    });
    const frames: string[] = [];
    page.on("websocket", (ws) => ws.on("framereceived", (f) => frames.push(String(f.payload))));
    await page.goto(gw.url.replace(/\/graphql$/, "/"));
    await page.waitForSelector(".graphiql-execute-button", { timeout: 30_000 });
    // The example in the editor warns that the model's answers mean nothing.
    await page.getByText("RANDOM WEIGHTS").first().waitFor({ timeout: 10_000 });

    await page.click(".graphiql-execute-button");
    await page.locator(".result-window", { hasText: '"rank"' }).waitFor({ timeout: 30_000 });
    const ranking = (await page.textContent(".result-window")) ?? "";
    assert.match(ranking, /"model":\s*"llama-tiny-1"/);
    assert.doesNotMatch(ranking, /"errors"/);

    await page.locator(".graphiql-tab", { hasText: "Explain" }).click();
    await page.getByText("subscription Explain").first().waitFor({ timeout: 10_000 });
    // GraphiQL updates the tab's operation name just after showing its text; a click at once can
    // still send the previous tab's name.
    await page.waitForTimeout(500);
    await page.click(".graphiql-execute-button");
    await page
      .locator(".result-window", { hasText: /"done":\s*true/ })
      .waitFor({ timeout: 30_000 })
      .catch(async (err) => {
        throw new Error(
          `${(err as Error).message}\nresult window: ${await page.textContent(".result-window")}`,
        );
      });
    const streamed = frames.filter((f) => f.includes('"type":"next"') && f.includes('"explanation"'));
    assert.ok(streamed.length > 1, `explanation arrived in ${streamed.length} message(s)`);
    assert.deepEqual(offsite, [], "the IDE fetched something from outside the gateway");
  });
});
