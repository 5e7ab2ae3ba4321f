import { loadConfig } from "../src/config";
import { migrate } from "../src/db/migrate";

// Applies pending migrations to DATABASE_URL; idempotent and all-or-nothing.
async function main() {
  const { DATABASE_URL } = loadConfig();
  if (!DATABASE_URL)
    throw new Error("DATABASE_URL is not set (the embedded database migrates itself on start)");
  const r = await migrate(DATABASE_URL);
  console.log(`applied: ${r.applied.join(", ") || "none"}; already applied: ${r.alreadyApplied.length}`);
}

main().catch((err) => {
  console.error(`migration failed: ${(err as Error).message}`);
  process.exit(1);
});
