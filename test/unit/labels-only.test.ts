import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type FragmentDefinitionNode,
  type GraphQLResolveInfo,
  type OperationDefinitionNode,
  parse,
} from "graphql";
import type { BuiltPrompt } from "../../src/prompt/builder";
import { rankCandidates } from "../../src/ranking/rank";
import { normalizeFor } from "../../src/ranking/score";
import { selectsField } from "../../src/resolvers/selection";

/** The resolve info of the operation's first root field, as graphql-js hands it to a resolver. */
function infoOf(document: string): GraphQLResolveInfo {
  const doc = parse(document);
  const op = doc.definitions.find((d) => d.kind === "OperationDefinition") as OperationDefinitionNode;
  const fragments = Object.fromEntries(
    doc.definitions
      .filter((d): d is FragmentDefinitionNode => d.kind === "FragmentDefinition")
      .map((f) => [f.name.value, f]),
  );
  return { fieldNodes: [op.selectionSet.selections[0]], fragments } as unknown as GraphQLResolveInfo;
}

describe("selectsField", () => {
  it("finds a field nested in the selection, in an inline fragment, or in a named fragment", () => {
    assert.equal(selectsField(infoOf("{ r { items { actions { action logprob } } } }"), "logprob"), true);
    assert.equal(
      selectsField(infoOf("{ r { items { ... on X { actions { logprob } } } } }"), "logprob"),
      true,
    );
    assert.equal(
      selectsField(
        infoOf("{ r { items { ...A } } } fragment A on X { actions { ...B } } fragment B on Y { logprob }"),
        "logprob",
      ),
      true,
    );
  });

  it("does not find a field the operation does not ask for, nor one beside the resolved field", () => {
    assert.equal(
      selectsField(infoOf("{ r { items { actions { action probability } } } }"), "logprob"),
      false,
    );
    assert.equal(selectsField(infoOf("{ r { items { rank } } other { logprob } }"), "logprob"), false);
    // A fragment that spreads itself (invalid, but must not loop).
    assert.equal(selectsField(infoOf("{ r { ...A } } fragment A on X { a { ...A } }"), "logprob"), false);
  });
});

describe("normalizeFor", () => {
  const prompt = (ids: number[][]) => ({ labels: ids.map((i) => ({ ids: i })) }) as unknown as BuiltPrompt;

  it("scores over the answers alone unless log-probs are asked for or an answer has several tokens", () => {
    assert.equal(normalizeFor(prompt([[1], [2]]), false), "LABELS_ONLY");
    assert.equal(normalizeFor(prompt([[1], [2]]), true), "FULL_VOCAB");
    assert.equal(normalizeFor(prompt([[1], [2, 3]]), false), "FULL_VOCAB");
  });

  it("gives the same probabilities from label-renormalized log-probs, and no logprob", () => {
    const labels = [
      { action: "APPLY", answer: "apply", positive: true, ids: [1] },
      { action: "VIEW", answer: "view", positive: false, ids: [2] },
    ];
    const full = [Math.log(0.02), Math.log(0.06)];
    const lse = Math.log(Math.exp(full[0]) + Math.exp(full[1]));
    const a = rankCandidates(labels, [{ id: "c", labelLogprobs: full }], true)[0];
    const b = rankCandidates(labels, [{ id: "c", labelLogprobs: full.map((x) => x - lse) }], false)[0];
    assert.ok(Math.abs(a.score - 0.25) < 1e-12 && Math.abs(b.score - 0.25) < 1e-12);
    assert.equal(a.actions[0].logprob, full[0]);
    assert.equal(b.actions[0].logprob, null);
  });
});
