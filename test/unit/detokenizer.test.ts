import assert from "node:assert/strict";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { IncrementalDetokenizer } from "../../src/prompt/detokenizer";
import { TextTokenizer } from "../../src/prompt/tokenizer";
import { testModel } from "../support/models";

describe("incremental detokenizer", () => {
  let tk: TextTokenizer;
  before(async () => {
    tk = await TextTokenizer.fromFile(join(testModel(), "tokenizer.json"));
  });

  for (const text of [
    "The member will apply because the role matches their Go and Kubernetes skills.",
    "Café ☕ naïve résumé — 日本語のテキスト 🚀🎉 done",
    "  leading spaces\nand\ttabs  ",
  ]) {
    it(`streams ${JSON.stringify(text.slice(0, 24))}… with no broken character and the exact text overall`, async () => {
      const ids = await tk.encode(text);
      const d = new IncrementalDetokenizer(tk);
      const deltas: string[] = [];
      for (const id of ids) deltas.push(await d.push(id));
      deltas.push(await d.flush());
      assert.equal(deltas.join(""), text);
      for (const delta of deltas)
        assert.ok(!delta.includes("\uFFFD"), `delta ${JSON.stringify(delta)} splits a character`);
      // Multi-byte characters span several byte-level tokens here, so some steps must wait.
      if (Buffer.byteLength(text) > text.length) assert.ok(deltas.some((x) => x === ""));
    });
  }

  it("emits the replacement character only for a truly incomplete tail", async () => {
    const ids = await tk.encode("ok 🚀");
    const d = new IncrementalDetokenizer(tk);
    let out = "";
    for (const id of ids.slice(0, -1)) out += await d.push(id);
    out += await d.flush();
    assert.ok(out.startsWith("ok "));
    assert.ok(out.endsWith("\uFFFD"));
  });
});
