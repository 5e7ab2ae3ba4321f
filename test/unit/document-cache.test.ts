import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildSchema, GraphQLError } from "graphql";
import { DocumentCache } from "../../src/server/document-cache";

const schema = buildSchema("type Query { hello(name: String!): String }");

describe("document cache (WebSocket operations)", () => {
  it("parses a text once and hands out the same document", () => {
    const cache = new DocumentCache(10);
    const a = cache.parse('{ hello(name: "x") }');
    assert.equal(cache.parse('{ hello(name: "x") }'), a);
    assert.notEqual(cache.parse('{ hello(name: "y") }'), a);
  });

  it("validates like graphql does, once per document, errors included", () => {
    const cache = new DocumentCache(10);
    const ok = cache.parse('{ hello(name: "x") }');
    assert.deepEqual(cache.validate(schema, ok), []);
    const bad = cache.parse("{ hello }");
    const errors = cache.validate(schema, bad);
    assert.equal(errors.length, 1);
    assert.match(errors[0].message, /argument "name" of type "String!" is required/);
    assert.equal(cache.validate(schema, bad), errors);
  });

  it("throws graphql's syntax error and keeps nothing for it", () => {
    const cache = new DocumentCache(10);
    assert.throws(
      () => cache.parse("{ hello("),
      (e: unknown) => e instanceof GraphQLError && /Syntax Error/.test(e.message),
    );
  });
});
