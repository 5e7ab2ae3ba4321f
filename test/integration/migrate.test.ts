import assert from "node:assert/strict";
import { cp, mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Client } from "pg";
import { MIGRATIONS_DIR, migrate, readMigrations } from "../../src/db/migrate";
import { createTestDatabase, type TestDatabase } from "../support/postgres";

describe("migrations (real PostgreSQL)", () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase(false);
  });
  after(async () => {
    await db.drop();
  });

  it("applies every migration once, records them as Prisma does, and is a no-op the second time", async () => {
    const all = (await readMigrations()).map((m) => m.name);
    const first = await migrate(db.url);
    assert.deepEqual(first.applied, all);
    const second = await migrate(db.url);
    assert.deepEqual(second.applied, []);
    assert.deepEqual(second.alreadyApplied, all);
    const c = new Client({ connectionString: db.url });
    await c.connect();
    const rows = await c.query(
      `SELECT migration_name, checksum, finished_at FROM "_prisma_migrations" ORDER BY migration_name`,
    );
    await c.end();
    assert.deepEqual(
      rows.rows.map((r) => r.migration_name),
      all,
    );
    assert.ok(rows.rows.every((r) => /^[0-9a-f]{64}$/.test(r.checksum) && r.finished_at));
  });

  it("runs concurrent callers one after the other without double-applying", async () => {
    const other = await createTestDatabase(false);
    try {
      const results = await Promise.all([migrate(other.url), migrate(other.url), migrate(other.url)]);
      assert.equal(
        results.reduce((n, r) => n + r.applied.length, 0),
        (await readMigrations()).length,
      );
    } finally {
      await other.drop();
    }
  });

  it("rolls back everything when a migration fails, and refuses edited history", async () => {
    const dir = await mkdtemp(join(tmpdir(), "brewgate-mig-"));
    await cp(MIGRATIONS_DIR, dir, { recursive: true });
    await mkdir(join(dir, "29990101000000_broken"));
    await writeFile(
      join(dir, "29990101000000_broken", "migration.sql"),
      'CREATE TABLE "Ok" (id int);\nSELECT * FROM no_such_table;',
    );
    const fresh = await createTestDatabase(false);
    try {
      await assert.rejects(
        migrate(fresh.url, dir),
        /migration 29990101000000_broken failed: .*no_such_table/,
      );
      const c = new Client({ connectionString: fresh.url });
      await c.connect();
      const tables = await c.query(
        `SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public'`,
      );
      await c.end();
      assert.equal(tables.rows[0].n, 0, "nothing of the failed run may remain");

      await migrate(db.url); // already migrated
      const edited = join(dir, (await readMigrations())[0].name, "migration.sql");
      await writeFile(edited, "-- edited\n");
      await assert.rejects(migrate(db.url, dir), /was modified after it was applied/);
    } finally {
      await fresh.drop();
    }
  });
});
