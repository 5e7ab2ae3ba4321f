import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { assertObjectType, type GraphQLSchema, parse, validate } from "graphql";
import { modelCost } from "../../src/auth/model-cost";
import { authorizeField, mayRead, POLICY, type RootField } from "../../src/auth/policy";
import { anonymousPrincipal, type Principal } from "../../src/auth/principal";
import { createGatewayPubSub } from "../../src/bus/pubsub";
import { DomainError } from "../../src/domain/errors";
import { rootFields } from "../../src/server/operation";
import { createSchema } from "../../src/server/schema";

const member = (id: string): Principal => ({
  role: "member",
  memberId: id,
  key: `jwt:idp:${id}`,
  expiresAt: null,
  via: "jwt",
});
const ME = member("m-1");
const SERVICE: Principal = {
  role: "service",
  memberId: null,
  key: "key:svc",
  expiresAt: null,
  via: "api-key",
};
const ADMIN: Principal = { role: "admin", memberId: null, key: "jwt:idp:ops", expiresAt: null, via: "jwt" };

/** Whether the principal may run the field with these arguments; any other error is rethrown. */
function allowed(p: Principal, coordinate: string, args: Record<string, unknown> = {}): boolean {
  try {
    authorizeField(p, coordinate, args);
    return true;
  } catch (err) {
    if (err instanceof DomainError && err.code === "FORBIDDEN") return false;
    throw err;
  }
}

function forbiddenMessage(p: Principal, coordinate: string, args: Record<string, unknown>): string {
  try {
    authorizeField(p, coordinate, args);
  } catch (err) {
    assert.ok(err instanceof DomainError);
    assert.equal(err.code, "FORBIDDEN");
    return err.message;
  }
  assert.fail(`${coordinate} was allowed`);
}

const event = (memberId: string, n = 1) => ({
  eventId: `e-${memberId}-${n}`,
  memberId,
  itemId: "j-1",
  action: "APPLY",
});

/**
 * Each root field with the arguments of a call about the member principal's own member (m-1) and
 * about another member (m-2), and who may make each: the member (own / other), a service, an admin.
 */
const CASES: Record<
  string,
  {
    own: Record<string, unknown>;
    other: Record<string, unknown>;
    memberOwn: boolean;
    memberOther: boolean;
    service: boolean;
  }
> = {
  "Query.tasks": { own: {}, other: {}, memberOwn: true, memberOther: true, service: true },
  "Query.task": {
    own: { name: "job_apply" },
    other: { name: "job_apply" },
    memberOwn: true,
    memberOther: true,
    service: true,
  },
  "Query.items": {
    own: { first: 20 },
    other: { first: 20 },
    memberOwn: true,
    memberOther: true,
    service: true,
  },
  "Query.item": {
    own: { id: "j-1" },
    other: { id: "j-1" },
    memberOwn: true,
    memberOther: true,
    service: true,
  },
  "Query.member": {
    own: { id: "m-1" },
    other: { id: "m-2" },
    memberOwn: true,
    memberOther: false,
    service: true,
  },
  "Query.members": {
    own: { first: 20 },
    other: { first: 20 },
    memberOwn: false,
    memberOther: false,
    service: true,
  },
  "Query.prompt": {
    own: { memberId: "m-1", task: "job_apply", candidateIds: ["j-1"] },
    other: { memberId: "m-2", task: "job_apply", candidateIds: ["j-1"] },
    memberOwn: true,
    memberOther: false,
    service: true,
  },
  "Query.recommendations": {
    own: { memberId: "m-1", task: "job_apply", first: 10 },
    other: { memberId: "m-2", task: "job_apply", first: 10 },
    memberOwn: true,
    memberOther: false,
    service: true,
  },
  "Query.impressions": {
    own: { memberId: "m-1", first: 20 },
    other: { memberId: "m-2", first: 20 },
    memberOwn: true,
    memberOther: false,
    service: true,
  },
  // `owned`: anyone may ask; the resolver hides another member's impression (mayRead).
  "Query.impression": {
    own: { id: "i-1" },
    other: { id: "i-2" },
    memberOwn: true,
    memberOther: true,
    service: true,
  },
  "Mutation.recordInteractions": {
    own: { events: [event("m-1")] },
    other: { events: [event("m-2")] },
    memberOwn: true,
    memberOther: false,
    service: true,
  },
  "Mutation.upsertItem": {
    own: { input: { id: "j-1" } },
    other: { input: { id: "j-1" } },
    memberOwn: false,
    memberOther: false,
    service: false,
  },
  "Mutation.upsertMember": {
    own: { input: { id: "m-1" } },
    other: { input: { id: "m-2" } },
    memberOwn: false,
    memberOther: false,
    service: false,
  },
  "Mutation.upsertTask": {
    own: { input: { name: "t" } },
    other: { input: { name: "t" } },
    memberOwn: false,
    memberOther: false,
    service: false,
  },
  "Subscription.explanation": {
    own: { memberId: "m-1", itemId: "j-1", task: "job_apply" },
    other: { memberId: "m-2", itemId: "j-1", task: "job_apply" },
    memberOwn: true,
    memberOther: false,
    service: true,
  },
  "Subscription.livePredictions": {
    own: { memberId: "m-1", task: "job_apply", first: 10 },
    other: { memberId: "m-2", task: "job_apply", first: 10 },
    memberOwn: true,
    memberOther: false,
    service: true,
  },
};

/** Root fields of every operation type of a schema, as "Type.field". */
function schemaRootFields(schema: GraphQLSchema): string[] {
  const out: string[] = [];
  for (const type of [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()]) {
    if (type) for (const name of Object.keys(type.getFields())) out.push(`${type.name}.${name}`);
  }
  return out.sort();
}

describe("authorization table (src/auth/policy.ts)", () => {
  it("decides every root field for a member (own and another's), a service and an admin", () => {
    assert.deepEqual(Object.keys(CASES).sort(), Object.keys(POLICY).sort(), "CASES covers POLICY");
    for (const [coordinate, c] of Object.entries(CASES)) {
      assert.equal(allowed(ME, coordinate, c.own), c.memberOwn, `${coordinate}: member, own`);
      assert.equal(allowed(ME, coordinate, c.other), c.memberOther, `${coordinate}: member, another's`);
      assert.equal(allowed(SERVICE, coordinate, c.own), c.service, `${coordinate}: service`);
      assert.equal(
        allowed(SERVICE, coordinate, c.other),
        c.service,
        `${coordinate}: service, another member`,
      );
      assert.equal(allowed(ADMIN, coordinate, c.own), true, `${coordinate}: admin`);
      assert.equal(allowed(ADMIN, coordinate, c.other), true, `${coordinate}: admin, another member`);
    }
  });

  it("uses each kind of rule the table names", () => {
    const kinds = new Set(Object.values(POLICY).map((r) => r.kind));
    assert.deepEqual([...kinds].sort(), ["admin", "any", "owned", "self", "selfEvents", "service"]);
  });

  it("says why a field is refused, without naming the other member", () => {
    assert.match(forbiddenMessage(ME, "Mutation.upsertTask", {}), /upsertTask needs an admin token/);
    assert.match(forbiddenMessage(SERVICE, "Mutation.upsertItem", {}), /upsertItem needs an admin token/);
    assert.match(forbiddenMessage(ME, "Query.members", {}), /members needs a service or admin token/);
    const self = forbiddenMessage(ME, "Query.recommendations", { memberId: "m-secret", task: "t" });
    assert.match(self, /recommendations only with its own member id \(memberId\)/);
    assert.doesNotMatch(self, /m-secret/);
    const events = forbiddenMessage(ME, "Mutation.recordInteractions", { events: [event("m-secret")] });
    assert.match(events, /only its own member's interactions/);
    assert.doesNotMatch(events, /m-secret/);
  });

  it("checks a `self` field's own argument, refusing a member call that leaves it out", () => {
    // Query.member is keyed by `id`, not `memberId`: a memberId argument does not stand in for it.
    assert.equal(allowed(ME, "Query.member", { id: "m-1" }), true);
    assert.equal(allowed(ME, "Query.member", { memberId: "m-1", id: "m-2" }), false);
    assert.equal(allowed(ME, "Query.recommendations", { task: "t" }), false);
    assert.equal(allowed(ME, "Query.recommendations", { memberId: null, task: "t" }), false);
  });

  it("refuses a member's recordInteractions when any one event is another member's", () => {
    const ok = { events: [event("m-1", 1), event("m-1", 2), event("m-1", 3)] };
    assert.equal(allowed(ME, "Mutation.recordInteractions", ok), true);
    for (const at of [0, 1, 2]) {
      const events = [event("m-1", 1), event("m-1", 2), event("m-1", 3)];
      events[at] = event("m-2", at);
      assert.equal(allowed(ME, "Mutation.recordInteractions", { events }), false, `other member at ${at}`);
    }
    const mixed = { events: [event("m-1"), event("m-2"), event("m-3")] };
    assert.equal(allowed(ME, "Mutation.recordInteractions", mixed), false);
    assert.equal(allowed(member("m-2"), "Mutation.recordInteractions", mixed), false);
    assert.equal(allowed(SERVICE, "Mutation.recordInteractions", mixed), true);
    assert.equal(allowed(ADMIN, "Mutation.recordInteractions", mixed), true);
    // An event that names no member is not the member's own.
    assert.equal(allowed(ME, "Mutation.recordInteractions", { events: [{ eventId: "x" }] }), false);
    assert.equal(allowed(ME, "Mutation.recordInteractions", { events: [] }), true);
  });

  it("refuses a coordinate the table lacks, for every role (fail closed)", () => {
    for (const p of [ME, SERVICE, ADMIN, anonymousPrincipal("127.0.0.1")]) {
      for (const coordinate of ["Query.dropEverything", "Mutation.deleteMember", "Subscription.everything"]) {
        const message = forbiddenMessage(p, coordinate, {});
        assert.match(message, new RegExp(`${coordinate.replace(".", "\\.")} has no authorization rule`));
      }
    }
  });

  it("lets the anonymous principal (authentication optional) do what an admin may", () => {
    const anon = anonymousPrincipal("10.0.0.9");
    assert.deepEqual(anon, {
      role: "admin",
      memberId: null,
      key: "ip:10.0.0.9",
      expiresAt: null,
      via: "anonymous",
    });
    for (const [coordinate, c] of Object.entries(CASES))
      assert.equal(allowed(anon, coordinate, c.other), true);
  });

  it("mayRead: a member reads its own records only; services and admins read all", () => {
    assert.equal(mayRead(ME, "m-1"), true);
    assert.equal(mayRead(ME, "m-2"), false);
    assert.equal(mayRead(ME, ""), false);
    assert.equal(mayRead(SERVICE, "m-2"), true);
    assert.equal(mayRead(ADMIN, "m-2"), true);
    assert.equal(mayRead(anonymousPrincipal("127.0.0.1"), "m-2"), true);
  });

  it("has a rule for every root field of the real schema, and none for a field it lacks", async () => {
    const schema = await createSchema(createGatewayPubSub().pubSub);
    const fields = schemaRootFields(schema);
    assert.ok(fields.length >= 16, `only ${fields.length} root fields found`);
    assert.deepEqual(
      fields.filter((f) => !(f in POLICY)),
      [],
      "root fields without an authorization rule",
    );
    assert.deepEqual(
      Object.keys(POLICY).filter((f) => !fields.includes(f)),
      [],
      "POLICY entries naming no root field",
    );
    // The `self` rules name an argument the field really has.
    for (const [coordinate, rule] of Object.entries(POLICY)) {
      if (rule.kind !== "self") continue;
      const [typeName, fieldName] = coordinate.split(".");
      const type = assertObjectType(schema.getType(typeName));
      const args = type.getFields()[fieldName].args.map((a) => a.name);
      assert.ok(
        args.includes(rule.arg),
        `${coordinate} has no argument '${rule.arg}' (has ${args.join(", ")})`,
      );
    }
    const events = (schema.getMutationType()?.getFields().recordInteractions.args ?? []).map((a) => a.name);
    assert.ok(events.includes("events"), "recordInteractions takes `events`");
  });
});

describe("model cost (src/auth/model-cost.ts)", () => {
  const d = { retrievalLimit: 50, explanationTokens: 96 };
  const f = (coordinate: string, args: Record<string, unknown> = {}): RootField => ({ coordinate, args });
  const ids = (n: number) => Array.from({ length: n }, (_, i) => `j-${i}`);

  it("counts a ranking's candidates, or RETRIEVAL_LIMIT when it names none", () => {
    assert.equal(modelCost([f("Query.recommendations", { candidateIds: ids(7) })], d), 7);
    assert.equal(modelCost([f("Query.recommendations", { memberId: "m-1" })], d), 50);
    assert.equal(modelCost([f("Query.recommendations", { candidateIds: null })], d), 50);
    assert.equal(modelCost([f("Query.recommendations", {})], { ...d, retrievalLimit: 200 }), 200);
    assert.equal(modelCost([f("Subscription.livePredictions", { candidateIds: ids(3) })], d), 3);
    assert.equal(modelCost([f("Subscription.livePredictions", {})], d), 50);
  });

  it("counts an explanation's maxTokens, or EXPLANATION_MAX_TOKENS when it sets none", () => {
    assert.equal(modelCost([f("Subscription.explanation", { maxTokens: 12 })], d), 12);
    assert.equal(modelCost([f("Subscription.explanation", {})], d), 96);
    assert.equal(modelCost([f("Subscription.explanation", { maxTokens: null })], d), 96);
    // Candidates do not make an explanation dearer.
    assert.equal(modelCost([f("Subscription.explanation", { maxTokens: 5, candidateIds: ids(40) })], d), 5);
  });

  it("counts a prompt as one unit per 10 candidates, rounded up", () => {
    assert.equal(modelCost([f("Query.prompt", { candidateIds: ids(1) })], d), 1);
    assert.equal(modelCost([f("Query.prompt", { candidateIds: ids(10) })], d), 1);
    assert.equal(modelCost([f("Query.prompt", { candidateIds: ids(11) })], d), 2);
    assert.equal(modelCost([f("Query.prompt", { candidateIds: ids(25) })], d), 3);
    assert.equal(modelCost([f("Query.prompt", {})], d), 5);
  });

  it("costs nothing for fields that do no model work", () => {
    for (const coordinate of Object.keys(POLICY)) {
      if (
        [
          "Query.recommendations",
          "Query.prompt",
          "Subscription.explanation",
          "Subscription.livePredictions",
        ].includes(coordinate)
      )
        continue;
      assert.equal(modelCost([f(coordinate, { candidateIds: ids(9), maxTokens: 9 })], d), 0, coordinate);
    }
    assert.equal(modelCost([], d), 0);
  });

  it("sums the root fields of one operation", () => {
    const fields = [
      f("Query.recommendations", { candidateIds: ids(4) }),
      f("Query.recommendations", {}),
      f("Query.prompt", { candidateIds: ids(21) }),
      f("Subscription.explanation", { maxTokens: 30 }),
      f("Subscription.explanation", {}),
      f("Query.member", { id: "m-1" }),
    ];
    assert.equal(modelCost(fields, d), 4 + 50 + 3 + 30 + 96);
  });

  it("sums the aliased root fields of a real operation, with its variables", async () => {
    const schema = await createSchema(createGatewayPubSub().pubSub);
    const document = parse(`query Q($ids: [ID!]) {
      a: recommendations(memberId: "m-1", task: "job_apply", candidateIds: $ids) { impressionId }
      b: recommendations(memberId: "m-1", task: "job_apply") { impressionId }
      prompt(memberId: "m-1", task: "job_apply", candidateIds: ["x", "y"]) { prefixText }
      member(id: "m-1") { id }
    }`);
    assert.deepEqual(validate(schema, document), []);
    const fields = rootFields(schema, document, "Q", { ids: ids(6) });
    assert.deepEqual(
      fields.map((x) => x.coordinate),
      ["Query.recommendations", "Query.recommendations", "Query.prompt", "Query.member"],
    );
    assert.equal(modelCost(fields, d), 6 + 50 + 1 + 0);
  });
});
