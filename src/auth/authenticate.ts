import type { Config } from "../config";
import { jwtConfigured } from "../config";
import type { Db } from "../db/client";
import { unauthenticated } from "../domain/errors";
import { ApiKeyVerifier, isApiKey } from "./api-keys";
import { JwtVerifier } from "./jwt";
import { anonymousPrincipal, type Principal } from "./principal";

/** What a caller presented: an Authorization header's value, or an API key on its own. */
export interface Credentials {
  /** `Bearer <JWT or API key>` (HTTP header, or `authorization` in WebSocket connectionParams). */
  authorization?: string | null;
  /** A bare API key (`x-api-key` header, `apiKey` in connectionParams). */
  apiKey?: string | null;
  /** The caller's address: anonymous callers are limited by it. */
  address: string;
}

/**
 * Turns credentials into a principal: a JWT (src/auth/jwt.ts) or an API key (src/auth/api-keys.ts),
 * both sent as bearer tokens. No credentials: UNAUTHENTICATED where authentication is required,
 * else the anonymous principal. Credentials that were sent are always checked.
 */
export class Authenticator {
  private readonly jwt: JwtVerifier | null;
  private readonly keys: ApiKeyVerifier;

  constructor(
    private readonly config: Config,
    db: Db,
  ) {
    this.jwt = jwtConfigured(config) ? new JwtVerifier(config) : null;
    this.keys = new ApiKeyVerifier(db, config.API_KEY_CACHE_TTL_MS);
  }

  async authenticate(c: Credentials): Promise<Principal> {
    const token = bearer(c.authorization) ?? c.apiKey?.trim() ?? null;
    if (!token) {
      if (this.config.AUTH_REQUIRED) {
        throw unauthenticated("authentication required: send Authorization: Bearer <token or API key>");
      }
      return anonymousPrincipal(c.address);
    }
    if (isApiKey(token)) return this.keys.verify(token);
    if (!this.jwt) {
      throw unauthenticated(
        "JWTs are not accepted here (no AUTH_JWKS_URL, AUTH_JWT_PUBLIC_KEY or AUTH_JWT_SECRET)",
      );
    }
    return this.jwt.verify(token);
  }
}

function bearer(header: string | null | undefined): string | null {
  if (!header) return null;
  const m = /^\s*Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) throw unauthenticated("the Authorization header must be 'Bearer <token>'");
  return m[1];
}
