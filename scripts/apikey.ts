import { existsSync } from "node:fs";
import { createApiKey } from "../src/auth/api-keys";
import { isRole } from "../src/auth/principal";
import { loadConfig } from "../src/config";
import { listApiKeys, revokeApiKey } from "../src/db/api-keys";
import { parseFlags, runCommand, UsageError } from "./cli";
import { openDatabase } from "./local-services";

const USAGE = `Usage: npm run apikey -- create --name NAME --role service|admin|member [--member ID] [--expires-days N]
       npm run apikey -- list
       npm run apikey -- revoke --id ID

API keys for service callers, sent as 'Authorization: Bearer <key>' or 'x-api-key: <key>'.
create prints the key once: only its SHA-256 is stored, it cannot be shown again.
The database is DATABASE_URL's, else npm start's embedded one (running or not).`;

if (existsSync(".env")) process.loadEnvFile(".env");

runCommand("apikey", USAGE, async () => {
  const [command, ...rest] = process.argv.slice(2);
  const flags = parseFlags(
    rest,
    {
      help: { type: "boolean" },
      name: { type: "string" },
      role: { type: "string" },
      member: { type: "string" },
      "expires-days": { type: "string" },
      id: { type: "string" },
    },
    USAGE,
  );
  if (!["create", "list", "revoke"].includes(command ?? "")) {
    throw new UsageError(`expected a command: create, list or revoke; got '${command ?? ""}'`);
  }
  let expiresAt: Date | null = null;
  if (flags["expires-days"] !== undefined) {
    const days = Number(flags["expires-days"]);
    if (!(days > 0))
      throw new UsageError(`--expires-days must be a positive number, got '${flags["expires-days"]}'`);
    expiresAt = new Date(Date.now() + days * 86_400_000);
  }
  if (command === "create") {
    if (!flags.name) throw new UsageError("--name is required");
    if (!flags.role || !isRole(flags.role)) throw new UsageError("--role must be service, admin or member");
  }
  if (command === "revoke" && !flags.id) throw new UsageError("--id is required");

  const database = await openDatabase(loadConfig());
  try {
    const { db } = database;
    if (command === "create") {
      const { key, row } = await createApiKey(db, {
        name: flags.name as string,
        role: flags.role as "service" | "admin" | "member",
        memberId: flags.member ?? null,
        expiresAt,
      });
      process.stderr.write(`created API key ${row.id} (${row.role}, '${row.name}'); it is shown once:\n`);
      process.stdout.write(`${key}\n`);
    } else if (command === "list") {
      for (const k of await listApiKeys(db)) {
        const state = k.revokedAt
          ? `revoked ${k.revokedAt.toISOString()}`
          : k.expiresAt
            ? `expires ${k.expiresAt.toISOString()}`
            : "active";
        process.stdout.write(
          `${k.id}  ${k.role.padEnd(7)}  ${(k.memberId ?? "-").padEnd(12)}  ${state}  ${k.name}\n`,
        );
      }
    } else {
      if (!(await revokeApiKey(db, flags.id as string))) throw new Error(`no API key '${flags.id}'`);
      process.stderr.write(
        `revoked API key ${flags.id}; gateways stop accepting it within API_KEY_CACHE_TTL_MS\n`,
      );
    }
  } finally {
    await database.close();
  }
});
