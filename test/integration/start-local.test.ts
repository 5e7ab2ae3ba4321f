import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { SidecarProcess } from "../../dev/sidecar-process";
import { bearer, gqlResponse } from "../support/graphql";
import { REPO_ROOT, testModel } from "../support/models";
import { createTestDatabase, type TestDatabase } from "../support/postgres";
import { startTestSidecar } from "../support/sidecar";

// `npm start`'s process (scripts/start-local.ts, which npm start runs once it has built): it
// requires authentication, prints development tokens, and they work over HTTP.

describe("the local run (npm start's process)", () => {
  let pg: TestDatabase;
  let sidecar: SidecarProcess;
  let dataDir: string;
  let child: ChildProcess | undefined;
  let banner = "";

  before(async () => {
    [pg, sidecar] = await Promise.all([createTestDatabase(), startTestSidecar()]);
    dataDir = await mkdtemp(join(tmpdir(), "brewgate-start-local-"));
    child = spawn(process.execPath, [join(REPO_ROOT, "dist", "scripts", "start-local.js")], {
      cwd: dataDir,
      env: {
        ...process.env,
        NODE_ENV: "",
        DATABASE_URL: pg.url,
        INFERENCE_ADDRESSES: sidecar.address,
        MODEL_DIR: testModel(),
        DATA_DIR: dataDir,
        PORT: "0",
        LOG_LEVEL: "warn",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.on("data", (d) => {
      banner += String(d);
    });
    const deadline = Date.now() + 90_000;
    while (!/admin\s+\S+\.\S+\.\S+/.test(banner)) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no banner: ${banner}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  });
  after(async () => {
    if (child && child.exitCode === null) child.kill("SIGKILL");
    await sidecar?.stop();
    await pg?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("prints a member and an admin token that work, refuses a caller without one, and stops on SIGINT", async () => {
    const url = /GraphQL\s+(http:\/\/\S+\/graphql)/.exec(banner)?.[1] as string;
    assert.ok(url, banner);
    const member = /member member-1\s+(\S+)/.exec(banner)?.[1] as string;
    const admin = /admin\s+(\S+\.\S+\.\S+)/.exec(banner)?.[1] as string;
    assert.ok(member && admin, banner);

    const none = await gqlResponse(url, "{ tasks { name } }");
    assert.equal(none.status, 401);
    const own = await gqlResponse(url, '{ member(id: "member-1") { id } }', undefined, bearer(member));
    assert.deepEqual(own.body, { data: { member: { id: "member-1" } } });
    const other = await gqlResponse(url, '{ member(id: "member-2") { id } }', undefined, bearer(member));
    assert.equal(other.status, 403);
    const write = await gqlResponse(
      url,
      'mutation { upsertItem(input: {id: "local-job", type: "JOB", title: "Welder"}) { id } }',
      undefined,
      bearer(admin),
    );
    assert.deepEqual(write.body, { data: { upsertItem: { id: "local-job" } } });
    // The IDE page carries the member token for its requests.
    const ide = await (await fetch(url.replace(/\/graphql$/, "/"))).text();
    assert.ok(ide.includes(`Bearer ${member}`));

    const exited = new Promise<number | null>((resolve) => child?.once("exit", (code) => resolve(code)));
    child?.kill("SIGINT");
    assert.equal(await exited, 0);
  });
});
