/**
 * Who is calling, once their credentials were checked (src/auth/authenticate.ts). Every
 * authorization decision (src/auth/policy.ts) is made from this alone.
 *
 * - `member`: an end user; sees and acts for its own member only.
 * - `service`: a backend acting for any member: rankings, explanations, live predictions,
 *   prompts, histories, interactions; reads the member list.
 * - `admin`: everything a service may, and writes tasks, items and members.
 */
export type Role = "member" | "service" | "admin";

export const ROLES: readonly Role[] = ["member", "service", "admin"];

export interface Principal {
  role: Role;
  /** The member a member principal is; null for services and admins. */
  memberId: string | null;
  /** Stable name for limits and logs: `jwt:<iss>:<sub>`, `key:<id>`, `ip:<address>`. */
  key: string;
  /** When its credentials stop being valid (ms since the epoch); null: never. */
  expiresAt: number | null;
  /** How it authenticated: a JWT, an API key, or nothing (only where authentication is optional). */
  via: "jwt" | "api-key" | "anonymous";
}

/** Scopes a JWT carries (`scope` or `scp`) to get each role; the first role listed wins. */
export const ROLE_SCOPES: Record<Role, string> = {
  admin: "brewgate:admin",
  service: "brewgate:service",
  member: "brewgate:member",
};

/** The highest role named by a token's scopes, or null when it names none. */
export function roleFromScopes(scopes: readonly string[]): Role | null {
  for (const role of ["admin", "service", "member"] as const) {
    if (scopes.includes(ROLE_SCOPES[role])) return role;
  }
  return null;
}

/**
 * A caller with no credentials where authentication is not required (AUTH_REQUIRED=false, the
 * default outside production): it may do everything, as before authentication existed. Limits
 * still count it, by address.
 */
export function anonymousPrincipal(address: string): Principal {
  return { role: "admin", memberId: null, key: `ip:${address}`, expiresAt: null, via: "anonymous" };
}

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}
