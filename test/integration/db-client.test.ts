import assert from "node:assert/strict";
import { createServer } from "node:net";
import { after, before, describe, it } from "node:test";
import { Client } from "pg";
import { createDb, type Db, sql } from "../../src/db/client";
import { isDatabaseUnavailable } from "../../src/db/errors";
import { createTestDatabase, TEST_PG_ADMIN_URL, type TestDatabase } from "../support/postgres";
import { waitFor } from "../support/wait";

/** Ends every server process connected to `url`'s database, as a restart or failover would. */
async function terminateConnections(url: string): Promise<number> {
  const admin = new Client({ connectionString: TEST_PG_ADMIN_URL });
  await admin.connect();
  try {
    const r = await admin.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
      [new URL(url).pathname.slice(1)],
    );
    return r.rowCount ?? 0;
  } finally {
    await admin.end();
  }
}

describe("database client on a real PostgreSQL", () => {
  let pg: TestDatabase;
  let db: Db;
  const dropped: Error[] = [];
  before(async () => {
    pg = await createTestDatabase();
    db = createDb(pg.url, { max: 2, onIdleError: (err) => dropped.push(err) });
  });
  after(async () => {
    await db?.$disconnect();
    await pg?.drop();
  });

  it("runs sql() on the model API's pool: both within its two connections", async () => {
    const [{ n }] = await sql<{ n: number }>(db, "SELECT $1::int + 1 AS n", [41]);
    assert.equal(n, 42);
    await db.member.create({ data: { id: "m1" } });
    const rows = await sql<{ id: string }>(db, `SELECT "id" FROM "Member" WHERE "id" = $1`, ["m1"]);
    assert.deepEqual(rows, [{ id: "m1" }]);
    // Both kinds at once, more than the pool holds: they queue for its connections.
    const busy = [
      ...Array.from({ length: 3 }, () => sql(db, "SELECT pg_sleep(0.05)", [])),
      ...Array.from({ length: 3 }, () => db.$queryRaw`SELECT 1 AS one FROM pg_sleep(0.05)`),
    ];
    const [{ connections }] = await sql<{ connections: number }>(
      db,
      "SELECT count(*)::int AS connections FROM pg_stat_activity WHERE datname = current_database()",
      [],
    );
    await Promise.all(busy);
    assert.ok(connections <= 2, `${connections} connections to the database`);
  });

  it("hears of idle connections the server ended, and the next statement reconnects", async () => {
    // Two idle connections in the pool, then the server ends them.
    await Promise.all([sql(db, "SELECT pg_sleep(0.05)", []), sql(db, "SELECT pg_sleep(0.05)", [])]);
    const ended = await terminateConnections(pg.url);
    assert.ok(ended >= 1);
    // Every ended connection reported, so none is still in the pool to be handed out next.
    await waitFor("the pool to report the ended connections", async () => dropped.length >= ended, 5000);
    assert.match(String(dropped[0].message), /terminat/i);
    const [{ ok }] = await sql<{ ok: boolean }>(db, "SELECT true AS ok", []);
    assert.equal(ok, true);
    assert.equal(await db.member.count(), 1);
  });

  it("closes idle connections after idleTimeoutMs (those of a default pool stay)", async () => {
    const named = (name: string) => {
      const u = new URL(pg.url);
      u.searchParams.set("application_name", name);
      return u.toString();
    };
    const open = async (name: string) => {
      const [{ n }] = await sql<{ n: number }>(
        db,
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1",
        [name],
      );
      return n;
    };
    const brief = createDb(named("brief"), { max: 2, idleTimeoutMs: 100 });
    const kept = createDb(named("kept"), { max: 2 });
    try {
      await sql(brief, "SELECT 1", []);
      await sql(kept, "SELECT 1", []);
      assert.equal(await open("brief"), 1);
      await waitFor("the idle connection to close", async () => (await open("brief")) === 0, 5000);
      assert.equal(await open("kept"), 1);
    } finally {
      await brief.$disconnect();
      await kept.$disconnect();
    }
  });

  it("gives up on a server that accepts but never answers after connectTimeoutMs", async () => {
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const { port } = silent.address() as { port: number };
    const stuck = createDb(`postgresql://postgres@127.0.0.1:${port}/nothing`, { connectTimeoutMs: 200 });
    try {
      const failed = await sql(stuck, "SELECT 1", []).then(
        () => null,
        (err: Error) => err,
      );
      assert.ok(failed, "the statement should fail");
      assert.match(failed.message, /timeout/);
      assert.equal(isDatabaseUnavailable(failed), true);
    } finally {
      await stuck.$disconnect();
      silent.close();
    }
  });

  it("names a client it did not make", async () => {
    await assert.rejects(sql({} as Db, "SELECT 1", []), /createDb/);
  });
});
