import { createPublicKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import {
  createRemoteJWKSet,
  errors,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
  type ProtectedHeaderParameters,
} from "jose";
import type { Config } from "../config";
import { DomainError, forbidden, unauthenticated, unavailable } from "../domain/errors";
import { Lru } from "../util/lru";
import { type Principal, ROLE_SCOPES, roleFromScopes } from "./principal";

/**
 * Tokens verified, kept until they expire: a client sends the same token with every request, and
 * checking its signature again costs 0.26 ms of CPU for HS256 (more for RS256), a twentieth of
 * what the gateway spends on a whole ranking. A JWT cannot be revoked before its `exp` anyway.
 */
const VERIFIED_TOKENS = 10_000;

/** JWKS fetches: give up after this long; do not refetch on an unknown kid more often than this. */
const JWKS = { timeoutMs: 5_000, cooldownMs: 30_000, cacheMaxAgeMs: 10 * 60_000 } as const;

/**
 * Verifies bearer JWTs: the signature (against the JWKS, the configured public key, or the HS256
 * secret, chosen by the token's `alg`), then `iss`, `aud`, `exp` (required) and `nbf` within the
 * clock tolerance; then maps the token to a principal by its scopes.
 */
export class JwtVerifier {
  private readonly getKey: JWTVerifyGetKey;
  private readonly algorithms: string[];
  private readonly verified = new Lru<Principal>(VERIFIED_TOKENS);

  constructor(private readonly config: Config) {
    const secret = config.AUTH_JWT_SECRET ? new TextEncoder().encode(config.AUTH_JWT_SECRET) : null;
    const jwks = config.AUTH_JWKS_URL
      ? createRemoteJWKSet(new URL(config.AUTH_JWKS_URL), {
          timeoutDuration: JWKS.timeoutMs,
          cooldownDuration: JWKS.cooldownMs,
          cacheMaxAge: JWKS.cacheMaxAgeMs,
        })
      : null;
    const publicKey = config.AUTH_JWT_PUBLIC_KEY ? readPublicKey(config.AUTH_JWT_PUBLIC_KEY) : null;
    const asymmetric = jwks !== null || publicKey !== null;
    this.algorithms = [...(asymmetric ? config.AUTH_JWT_ALGORITHMS : []), ...(secret ? ["HS256"] : [])];
    this.getKey = async (header: ProtectedHeaderParameters, token) => {
      if (header.alg === "HS256") {
        if (secret) return secret;
      } else if (jwks) {
        // A key the JWKS lacks is the token's fault; a JWKS that cannot be fetched (refused,
        // an error status, not a key set, too slow) is ours: fetch's TypeError must not read as
        // a malformed token.
        return jwks(header, token).catch((err: unknown) => {
          if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys)
            throw err;
          throw unavailable("the keys that verify tokens could not be fetched; try again later");
        });
      } else if (publicKey) {
        return publicKey;
      }
      throw new errors.JOSEAlgNotAllowed(`"alg" (Algorithm) Header Parameter value not allowed`);
    };
  }

  async verify(token: string): Promise<Principal> {
    const known = this.verified.get(token);
    if (known && (known.expiresAt ?? 0) > Date.now()) return known;
    const principal = await this.check(token);
    this.verified.set(token, principal);
    return principal;
  }

  private async check(token: string): Promise<Principal> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.getKey, {
        issuer: this.config.AUTH_JWT_ISSUER,
        audience: this.config.AUTH_JWT_AUDIENCE,
        algorithms: this.algorithms,
        clockTolerance: this.config.AUTH_CLOCK_TOLERANCE_S,
        requiredClaims: ["exp"],
      }));
    } catch (err) {
      throw refusal(err);
    }
    const role = roleFromScopes(scopesOf(payload));
    if (!role) {
      throw forbidden(`the token grants no brewgate scope (one of ${Object.values(ROLE_SCOPES).join(", ")})`);
    }
    const claim = this.config.AUTH_MEMBER_CLAIM;
    const member = payload[claim];
    if (role === "member" && (typeof member !== "string" || member.length === 0)) {
      throw unauthenticated(`a member token must name its member in the '${claim}' claim`);
    }
    return {
      role,
      memberId: role === "member" ? (member as string) : null,
      key: `jwt:${payload.iss ?? ""}:${payload.sub ?? ""}`,
      expiresAt: (payload.exp as number) * 1000,
      via: "jwt",
    };
  }
}

/** `scope` (space-separated, RFC 8693 / 9068) or `scp` (a list or a string). */
function scopesOf(payload: JWTPayload): string[] {
  const out: string[] = [];
  for (const value of [payload.scope, payload.scp]) {
    if (typeof value === "string") out.push(...value.split(" ").filter(Boolean));
    else if (Array.isArray(value)) out.push(...value.filter((v): v is string => typeof v === "string"));
  }
  return out;
}

/** Why a token was refused, in words for its holder; a JWKS that cannot be fetched is our outage. */
function refusal(err: unknown): Error {
  if (err instanceof DomainError) return err;
  if (err instanceof errors.JWTExpired) return unauthenticated("the token has expired");
  if (err instanceof errors.JWTClaimValidationFailed) {
    return unauthenticated(`the token's '${err.claim}' claim is not accepted (${err.reason})`);
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) {
    return unauthenticated("the token's signature does not verify");
  }
  if (err instanceof errors.JOSEAlgNotAllowed)
    return unauthenticated("the token's algorithm is not accepted");
  if (err instanceof errors.JWKSNoMatchingKey) return unauthenticated("no key of the JWKS matches the token");
  if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid) {
    return unavailable("the keys that verify tokens could not be fetched; try again later");
  }
  if (err instanceof errors.JOSEError) return unauthenticated("the token is not a valid JWT");
  if (err instanceof TypeError) return unauthenticated("the token is not a valid JWT");
  return unavailable("the keys that verify tokens could not be fetched; try again later");
}

/** PEM text, or the path of a PEM file. */
function readPublicKey(value: string): KeyObject {
  const pem = value.includes("-----BEGIN") ? value : readPem(value);
  try {
    return createPublicKey(pem);
  } catch (err) {
    throw new Error(`AUTH_JWT_PUBLIC_KEY does not hold a PEM public key: ${(err as Error).message}`);
  }
}

function readPem(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new Error(`AUTH_JWT_PUBLIC_KEY: cannot read ${path}: ${(err as Error).message}`);
  }
}
