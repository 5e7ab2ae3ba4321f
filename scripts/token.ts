import { existsSync } from "node:fs";
import { isRole } from "../src/auth/principal";
import { signToken } from "../src/auth/tokens";
import { loadConfig } from "../src/config";
import { parseFlags, positiveInt, runCommand, UsageError } from "./cli";

const USAGE = `Usage: npm run token -- --role member|service|admin [--member ID] [--subject NAME] [--ttl SECONDS]

Prints an HS256 JWT signed with AUTH_JWT_SECRET, for AUTH_JWT_ISSUER and AUTH_JWT_AUDIENCE (all
three from the environment or .env): for local use and tests. In production an identity provider
issues tokens, verified through AUTH_JWKS_URL or AUTH_JWT_PUBLIC_KEY.
  --role      member (acts as --member only), service (any member), admin (also writes tasks, items, members)
  --member    the member of a member token (its 'sub')
  --ttl       lifetime in seconds (default 3600)`;

if (existsSync(".env")) process.loadEnvFile(".env");

runCommand("token", USAGE, async () => {
  const flags = parseFlags(
    process.argv.slice(2),
    {
      help: { type: "boolean" },
      role: { type: "string" },
      member: { type: "string" },
      subject: { type: "string" },
      ttl: { type: "string" },
    },
    USAGE,
  );
  if (!flags.role || !isRole(flags.role)) throw new UsageError("--role must be member, service or admin");
  if (flags.role === "member" && !flags.member)
    throw new UsageError("--member is required for a member token");
  const config = loadConfig();
  if (!config.AUTH_JWT_SECRET || !config.AUTH_JWT_ISSUER || !config.AUTH_JWT_AUDIENCE) {
    throw new Error("set AUTH_JWT_SECRET, AUTH_JWT_ISSUER and AUTH_JWT_AUDIENCE (the gateway's own) first");
  }
  const token = await signToken(config.AUTH_JWT_SECRET, {
    role: flags.role,
    memberId: flags.member,
    subject: flags.subject,
    issuer: config.AUTH_JWT_ISSUER,
    audience: config.AUTH_JWT_AUDIENCE,
    ttlSeconds: positiveInt("ttl", flags.ttl, 3600),
  });
  process.stdout.write(`${token}\n`);
});
