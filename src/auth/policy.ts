import { forbidden } from "../domain/errors";
import type { Principal } from "./principal";

/**
 * Who may run each root field: the one table of authorization (README, Security). Every query,
 * mutation and subscription has a rule; a root field without one is refused (fail closed), and a
 * test fails when the schema gains a field the table lacks.
 *
 * - `any`: every authenticated principal (the catalog: tasks and items);
 * - `self`: a member principal only when the argument `arg` is its own member id; services and
 *   admins for any member;
 * - `selfEvents`: like `self`, for every event of `recordInteractions`;
 * - `service`: services and admins;
 * - `admin`: admins only;
 * - `owned`: every principal may ask, and a member gets only what is its own (`impression(id)`:
 *   another member's impression reads as unknown, null, as a wrong id would).
 */
/** A root field of an operation with its arguments, coerced as execution will see them. */
export interface RootField {
  /** "Query.recommendations" */
  coordinate: string;
  args: Record<string, unknown>;
}

export type Rule =
  | { kind: "any" }
  | { kind: "self"; arg: string }
  | { kind: "selfEvents" }
  | { kind: "service" }
  | { kind: "admin" }
  | { kind: "owned" };

const any: Rule = { kind: "any" };
const self = (arg: string): Rule => ({ kind: "self", arg });

export const POLICY: Readonly<Record<string, Rule>> = {
  "Query.tasks": any,
  "Query.task": any,
  "Query.items": any,
  "Query.item": any,
  "Query.member": self("id"),
  "Query.members": { kind: "service" },
  "Query.prompt": self("memberId"),
  "Query.recommendations": self("memberId"),
  "Query.impressions": self("memberId"),
  "Query.impression": { kind: "owned" },
  "Mutation.recordInteractions": { kind: "selfEvents" },
  "Mutation.upsertItem": { kind: "admin" },
  "Mutation.upsertMember": { kind: "admin" },
  "Mutation.upsertTask": { kind: "admin" },
  "Subscription.explanation": self("memberId"),
  "Subscription.livePredictions": self("memberId"),
};

/**
 * Throws FORBIDDEN unless the principal may run the root field `coordinate` ("Query.member")
 * with these arguments. The message names the field and the rule, never another member's data.
 */
export function authorizeField(
  principal: Principal,
  coordinate: string,
  args: Record<string, unknown>,
): void {
  const rule = POLICY[coordinate];
  if (!rule) throw forbidden(`${coordinate} has no authorization rule and is refused`);
  const field = coordinate.slice(coordinate.indexOf(".") + 1);
  switch (rule.kind) {
    case "any":
    case "owned":
      return;
    case "admin":
      if (principal.role !== "admin") throw forbidden(`${field} needs an admin token`);
      return;
    case "service":
      if (principal.role === "member") throw forbidden(`${field} needs a service or admin token`);
      return;
    case "self":
      if (principal.role === "member" && args[rule.arg] !== principal.memberId) {
        throw forbidden(`a member token may use ${field} only with its own member id (${rule.arg})`);
      }
      return;
    case "selfEvents": {
      const events = Array.isArray(args.events) ? (args.events as { memberId?: unknown }[]) : [];
      if (principal.role === "member" && events.some((e) => e?.memberId !== principal.memberId)) {
        throw forbidden(`a member token may record only its own member's interactions`);
      }
      return;
    }
  }
}

/** For `owned` fields: whether a record of `memberId` may be shown to the principal. */
export function mayRead(principal: Principal, memberId: string): boolean {
  return principal.role !== "member" || principal.memberId === memberId;
}
