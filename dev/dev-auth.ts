import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { signToken } from "../src/auth/tokens";
import { type Config, jwtConfigured } from "../src/config";
import type { IdeTokens } from "../src/server/ide";

/** How long the local run's tokens last: a week of leaving `npm start` running. */
const DEV_TOKEN_TTL_S = 7 * 86_400;

export interface DevelopmentAuth {
  /** Variables the gateway starts with: the development key, issuer, audience, auth required. */
  env: Record<string, string>;
  tokens: IdeTokens & { admin: string };
}

/**
 * `npm start`'s authentication: required, as in production, with HS256 tokens signed by a secret
 * made once per data directory (DATA_DIR/dev-jwt-secret, owner-only) so tokens printed earlier
 * keep working across restarts. Null when JWTs are verified some other way (AUTH_JWKS_URL,
 * AUTH_JWT_PUBLIC_KEY): the identity provider issues the tokens then.
 */
export async function developmentAuth(config: Config, memberId: string): Promise<DevelopmentAuth | null> {
  if (jwtConfigured(config) && !config.AUTH_JWT_SECRET) return null;
  const secret = config.AUTH_JWT_SECRET ?? devSecret(config.DATA_DIR);
  const issuer = config.AUTH_JWT_ISSUER ?? "brewgate-local";
  const audience = config.AUTH_JWT_AUDIENCE ?? "brewgate";
  const sign = (role: "member" | "service" | "admin", member?: string) =>
    signToken(secret, { role, memberId: member, issuer, audience, ttlSeconds: DEV_TOKEN_TTL_S });
  return {
    env: {
      AUTH_JWT_SECRET: secret,
      AUTH_JWT_ISSUER: issuer,
      AUTH_JWT_AUDIENCE: audience,
      AUTH_REQUIRED: process.env.AUTH_REQUIRED ?? "true",
    },
    tokens: {
      member: await sign("member", memberId),
      service: await sign("service"),
      admin: await sign("admin"),
    },
  };
}

function devSecret(dataDir: string): string {
  const file = join(dataDir, "dev-jwt-secret");
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(32).toString("base64url");
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return secret;
}
