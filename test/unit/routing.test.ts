import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EndpointPool, parseAddress } from "../../src/inference/endpoints";
import { HashRing, loadBound, pickTarget, type RouteTarget } from "../../src/inference/routing";

const keys = Array.from({ length: 10_000 }, (_, i) => `member-${i}`);
const target = (address: string, inFlight = 0, downUntil = 0): RouteTarget => ({
  address,
  inFlight,
  downUntil,
});

describe("affinity routing", () => {
  it("walks every sidecar once, the same way for the same key", () => {
    const ring = new HashRing(["10.0.0.1:50051", "10.0.0.2:50051", "10.0.0.3:50051"]);
    const order = ring.walk("member-7");
    assert.equal(order.length, 3);
    assert.equal(new Set(order).size, 3);
    assert.deepEqual(
      new HashRing(["10.0.0.3:50051", "10.0.0.1:50051", "10.0.0.2:50051"]).walk("member-7"),
      order,
    );
    assert.deepEqual(new HashRing([]).walk("member-7"), []);
  });

  it("splits members evenly between two sidecars (within 10%)", () => {
    const ring = new HashRing(["10.0.0.1:50051", "10.0.0.2:50051"]);
    const first = keys.filter((k) => ring.walk(k)[0] === "10.0.0.1:50051").length;
    assert.ok(Math.abs(first / keys.length - 0.5) < 0.1, `${first} of ${keys.length} on the first`);
  });

  it("a third sidecar takes about a third of the members and moves no one else", () => {
    const two = new HashRing(["10.0.0.1:50051", "10.0.0.2:50051"]);
    const three = new HashRing(["10.0.0.1:50051", "10.0.0.2:50051", "10.0.0.3:50051"]);
    let moved = 0;
    for (const k of keys) {
      const before = two.walk(k)[0];
      const after = three.walk(k)[0];
      if (before === after) continue;
      moved++;
      assert.equal(after, "10.0.0.3:50051", `${k} moved between the old sidecars`);
    }
    assert.ok(Math.abs(moved / keys.length - 1 / 3) < 0.1, `${moved} moved`);
  });

  it("bounds a sidecar's load at the factor times the average, the new call included", () => {
    assert.equal(loadBound(0, 2, 1.25), 1);
    assert.equal(loadBound(7, 2, 1.25), 5);
    assert.equal(loadBound(9, 3, 1.25), 5);
    assert.equal(loadBound(3, 0, 1.25), 5);
  });

  it("takes the key's sidecar, the next one when it is full, down or already tried", () => {
    const a = target("a");
    const b = target("b");
    const order = ["a", "b"];
    assert.equal(pickTarget([a, b], order, new Set(), 0, 1.25), a);
    // a carries 4, b none: bound is ceil(1.25 * 5 / 2) = 4, so a is full.
    a.inFlight = 4;
    assert.equal(pickTarget([a, b], order, new Set(), 0, 1.25), b);
    a.inFlight = 0;
    a.downUntil = 1_000;
    assert.equal(pickTarget([a, b], order, new Set(), 500, 1.25), b);
    assert.equal(pickTarget([a, b], order, new Set(), 1_000, 1.25), a, "back after its down time");
    assert.equal(pickTarget([a, b], order, new Set(["a"]), 1_000, 1.25), b);
    assert.equal(pickTarget([a, b], order, new Set(["a", "b"]), 1_000, 1.25), null);
  });

  it("when every sidecar is down, tries the one that comes back first", () => {
    const a = target("a", 0, 3_000);
    const b = target("b", 0, 2_000);
    assert.equal(pickTarget([a, b], ["a", "b"], new Set(), 0, 1.25), b);
  });

  it("with every sidecar full, takes the least loaded one rather than none", () => {
    const a = target("a", 9);
    const b = target("b", 7);
    assert.equal(pickTarget([a, b], ["a", "b"], new Set(), 0, 1), b);
    assert.equal(pickTarget([a, b], ["a", "b"], new Set(), 0, Number.POSITIVE_INFINITY), a);
  });
});

describe("sidecar endpoints", () => {
  it("parses host:port and [v6]:port, and refuses what is neither", () => {
    assert.deepEqual(parseAddress("sidecar.brewgate.svc:50051"), {
      host: "sidecar.brewgate.svc",
      port: "50051",
    });
    assert.deepEqual(parseAddress("[::1]:50051"), { host: "::1", port: "50051" });
    assert.throws(() => parseAddress("::1:50051"), /not host:port/);
    assert.throws(() => parseAddress("sidecar"), /not host:port/);
  });

  it("follows a name's addresses as they change, keeps them through a failed lookup, closes removed ones", async () => {
    let answer: string[] | Error = ["10.0.0.2", "10.0.0.1"];
    const opened: string[] = [];
    const closed: string[] = [];
    const changes: string[][] = [];
    const errors: string[] = [];
    const pool = new EndpointPool<string>({
      addresses: ["sidecar:50051", "10.0.0.9:50051"],
      resolveIntervalMs: 20,
      closeDelayMs: 0,
      connect: (address, host) => {
        opened.push(`${address}<${host ?? ""}`);
        return address;
      },
      close: (stub) => closed.push(stub),
      onChange: (a) => changes.push(a),
      onResolveError: (host, err) => errors.push(`${host}: ${err.message}`),
      resolve: async () => {
        if (answer instanceof Error) throw answer;
        return answer;
      },
    });
    try {
      await pool.ready;
      assert.deepEqual(opened.sort(), [
        "10.0.0.1:50051<sidecar",
        "10.0.0.2:50051<sidecar",
        "10.0.0.9:50051<",
      ]);
      answer = new Error("SERVFAIL");
      await new Promise((r) => setTimeout(r, 60));
      assert.equal(pool.list().length, 3, "a failed lookup keeps the addresses");
      assert.ok(errors.some((e) => e === "sidecar: SERVFAIL"));
      answer = ["10.0.0.2", "10.0.0.3"];
      await new Promise((r) => setTimeout(r, 60));
      await new Promise((r) => setTimeout(r, 5));
      assert.deepEqual(
        pool
          .list()
          .map((e) => e.address)
          .sort(),
        ["10.0.0.2:50051", "10.0.0.3:50051", "10.0.0.9:50051"],
      );
      assert.deepEqual(closed, ["10.0.0.1:50051"]);
      assert.equal(changes.length, 2, "one change for the first resolution, one for the new set");
    } finally {
      pool.close();
    }
  });
});
