import { SignJWT } from "jose";
import { ROLE_SCOPES, type Role } from "./principal";

export interface TokenRequest {
  role: Role;
  /** The member of a member token (its `sub`). */
  memberId?: string;
  /** `sub` of a service or admin token. @default the role's name */
  subject?: string;
  issuer: string;
  audience: string;
  /** Lifetime in seconds. */
  ttlSeconds: number;
}

/**
 * Signs an HS256 token the gateway accepts with AUTH_JWT_SECRET: for local use (`npm start`
 * prints some; `npm run token` makes more). In production an identity provider issues tokens.
 */
export function signToken(secret: string, t: TokenRequest): Promise<string> {
  if (t.role === "member" && !t.memberId) throw new Error("a member token needs the member's id");
  return new SignJWT({ scope: ROLE_SCOPES[t.role] })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(t.role === "member" ? (t.memberId as string) : (t.subject ?? t.role))
    .setIssuer(t.issuer)
    .setAudience(t.audience)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + t.ttlSeconds)
    .sign(new TextEncoder().encode(secret));
}
