import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isDatabaseUnavailable } from "../../src/db/errors";

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe("isDatabaseUnavailable", () => {
  it("knows an unreachable or departed server by the driver's, Prisma's and PostgreSQL's words", () => {
    for (const err of [
      withCode("connect ECONNREFUSED 127.0.0.1:5432", "ECONNREFUSED"),
      withCode("read ECONNRESET", "ECONNRESET"),
      new Error("Connection terminated due to connection timeout"),
      new Error("timeout exceeded when trying to connect"),
      new Error("Connection terminated unexpectedly"),
      withCode("Can't reach database server at 127.0.0.1:5432", "P1001"),
      withCode("Timed out fetching a new connection from the connection pool", "P2024"),
      withCode("terminating connection due to administrator command", "57P01"),
      withCode("the database system is starting up", "57P03"),
      withCode("sorry, too many clients already", "53300"),
      withCode("connection failure", "08006"),
      // Wrapped, as Prisma's adapter wraps the driver's error.
      new Error("query failed", { cause: withCode("connect ECONNREFUSED ::1:5432", "ECONNREFUSED") }),
    ]) {
      assert.equal(isDatabaseUnavailable(err), true, err.message);
    }
  });

  it("leaves statements that failed, and anything else, alone", () => {
    for (const err of [
      withCode('duplicate key value violates unique constraint "Member_pkey"', "23505"),
      withCode('syntax error at or near "SELEC"', "42601"),
      withCode("Unique constraint failed on the fields: (`id`)", "P2002"),
      new Error("something else"),
      "not an error",
      null,
    ]) {
      assert.equal(isDatabaseUnavailable(err), false, String(err));
    }
  });
});
