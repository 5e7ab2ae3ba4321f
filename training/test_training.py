"""Tests of the training code: python3 -m unittest discover -s training (test/unit/training.test.ts runs them).

The forward pass is checked against the sidecar's independent NumPy reference on generated
checkpoints of every architecture the trainer takes, the packed multi-candidate layout against
one prompt per candidate, and the loss, metric and checkpoint round trip on small cases.
"""
import json
import os
import random
import sys
import tempfile
import unittest

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "..", "native", "cuda-server", "scripts")
# The tree stays clean: no __pycache__ beside the sources.
sys.dont_write_bytecode = True
sys.path.insert(0, HERE)
sys.path.insert(0, SCRIPTS)

import gen_model  # noqa: E402
import reference  # noqa: E402
from data import packed, prefix_and_suffixes, separate, tokens  # noqa: E402
from model import load_checkpoint, save_checkpoint  # noqa: E402
from occurrence import OccurrenceHead, Vocabulary, line_kinds, occurrence_targets  # noqa: E402
from objective import (answer_logprobs, answer_loss, auc, backward_impression, lm_targets,  # noqa: E402
                       packed_order, positive_mass, vocab_logprobs)

torch.set_num_threads(os.cpu_count())


def generated(arch, tmp, **over):
    out = os.path.join(tmp, arch)
    gen_model.generate(arch, "tiny", "f32", 3, out, **over)
    return out


def impression(rng, vocab, n=4, prefix=30):
    """A random impression: 3 single-token labels (the first positive), n candidates."""
    labels = [{"action": a, "completion": f" {a.lower()}", "positive": i == 0, "ids": [rng.randrange(vocab)]}
              for i, a in enumerate(["APPLY", "VIEW", "DISMISS"])]
    cands = [{"itemId": f"i{i}", "position": i + 1, "suffix": "",
              "suffixIds": [rng.randrange(vocab) for _ in range(rng.randrange(3, 9))],
              "action": None, "answer": [0, 1, 2, None][i % 4], "positive": i % 4 == 0} for i in range(n)]
    return {"prefixIds": [rng.randrange(vocab) for _ in range(prefix)], "labels": labels, "candidates": cands}


class ForwardMatchesReference(unittest.TestCase):
    def test_every_architecture_against_the_numpy_reference(self):
        rng = random.Random(1)
        ids = [rng.randrange(2048) for _ in range(40)]
        cases = [("llama", {}), ("llama", {"rope_scaling": False, "tie": True}), ("mistral", {}),
                 ("qwen2", {}), ("qwen3", {})]
        with tempfile.TemporaryDirectory() as tmp:
            for arch, over in cases:
                with self.subTest(arch=arch, **over):
                    d = generated(arch, os.path.join(tmp, str(len(over))), **over)
                    cfg, w = reference.load(d)
                    want = reference.forward(cfg, w, ids)  # (T, V) float64
                    _, model = load_checkpoint(d)
                    with torch.no_grad():
                        t = torch.tensor([ids])
                        h = model.hidden(t, torch.arange(len(ids))[None],
                                         torch.ones(len(ids), len(ids), dtype=torch.bool).tril()[None])
                        got = model.logits(h)[0].double().numpy()
                    err = np.abs(got - want).max()
                    self.assertLess(err, 2e-3 * max(1.0, np.abs(want).max()), f"max |diff| {err}")


class PackedEqualsSeparate(unittest.TestCase):
    def test_answer_logprobs_of_packed_candidates_equal_one_prompt_each(self):
        with tempfile.TemporaryDirectory() as tmp:
            _, model = load_checkpoint(generated("llama", tmp))
        rng = random.Random(2)
        for n, prefix in [(1, 12), (5, 30), (9, 700)]:  # 700: more than one query block
            imp = impression(rng, 2048, n, prefix)
            with torch.no_grad():
                a = answer_logprobs(model, imp, "packed")
                b = answer_logprobs(model, imp, "separate")
            self.assertEqual(a.shape, (n, 3))
            self.assertLess((a - b).abs().max().item(), 1e-4)
            self.assertEqual(tokens(imp, "packed"), prefix + sum(len(c["suffixIds"]) for c in imp["candidates"]))
            self.assertEqual(tokens(imp, "separate"), n * prefix + sum(len(c["suffixIds"]) for c in imp["candidates"]))

    def test_prefix_and_padded_suffixes_equal_the_packed_sequence_with_its_mask(self):
        # hidden_packed (what training runs) against hidden on the packed sequence and its
        # item-aware mask (what the sidecar computes), for every architecture's attention.
        rng = random.Random(3)
        with tempfile.TemporaryDirectory() as tmp:
            for arch in ("llama", "qwen2", "qwen3"):
                with self.subTest(arch=arch):
                    _, model = load_checkpoint(generated(arch, os.path.join(tmp, arch)))
                    imp = impression(rng, 2048, 5, 600)  # 600 + suffixes: more than one query block
                    with torch.no_grad():
                        ids, pos, allowed, last = packed(imp)
                        dense = model.hidden(ids, pos, allowed)[0]
                        prefix, suffixes, lengths = prefix_and_suffixes(imp)
                        hp, hs = model.hidden_packed(prefix, suffixes)
                    got = packed_order(hp, hs, lengths)
                    self.assertEqual(got.shape, dense.shape)
                    self.assertLess((got - dense).abs().max().item(), 1e-4)

    def test_one_prompt_per_candidate_trains_with_the_same_gradient(self):
        with tempfile.TemporaryDirectory() as tmp:
            _, model = load_checkpoint(generated("llama", tmp))
        imp = impression(random.Random(4), 2048, 6, 20)
        grads, losses = {}, {}
        for layout in ("packed", "separate"):
            model.zero_grad(set_to_none=True)
            losses[layout] = backward_impression(model, imp, layout, scale=0.5)
            grads[layout] = torch.cat([p.grad.flatten() for p in model.parameters()])
        self.assertAlmostEqual(losses["packed"], losses["separate"], places=5)
        self.assertLess((grads["packed"] - grads["separate"]).abs().max().item(), 1e-5)
        self.assertGreater(grads["packed"].abs().max().item(), 1e-3)

    def test_the_mask_and_positions_of_a_packed_sequence(self):
        imp = {"prefixIds": [5, 6], "labels": [], "candidates": [{"suffixIds": [7, 8]}, {"suffixIds": [9]}]}
        ids, pos, allowed, last = packed(imp)
        self.assertEqual(ids.tolist(), [[5, 6, 7, 8, 9]])
        self.assertEqual(pos.tolist(), [[0, 1, 2, 3, 2]])
        self.assertEqual(last.tolist(), [3, 4])
        self.assertEqual(allowed[0].int().tolist(), [[1, 0, 0, 0, 0],
                                                     [1, 1, 0, 0, 0],
                                                     [1, 1, 1, 0, 0],
                                                     [1, 1, 1, 1, 0],
                                                     [1, 1, 0, 0, 1]])
        ids, pos, allowed, last = separate(imp)
        self.assertEqual(ids.tolist(), [[5, 6, 7, 8], [5, 6, 9, 0]])
        self.assertEqual(last.tolist(), [3, 6])

    def test_vocab_logprobs_renormalized_are_the_answer_logprobs(self):
        with tempfile.TemporaryDirectory() as tmp:
            _, model = load_checkpoint(generated("llama", tmp))
        imp = impression(random.Random(3), 2048)
        with torch.no_grad():
            full = vocab_logprobs(model, imp)
            self.assertTrue((full < 0).all())
            renorm = torch.log_softmax(full, dim=-1)
            self.assertLess((renorm - answer_logprobs(model, imp)).abs().max().item(), 1e-5)


class Objective(unittest.TestCase):
    def test_loss_is_the_answer_or_any_negative_answer(self):
        imp = {"labels": [{"ids": [1], "positive": True}, {"ids": [2], "positive": False},
                          {"ids": [3], "positive": False}],
               "candidates": [{"answer": 0, "positive": True}, {"answer": 2, "positive": False},
                              {"answer": None, "positive": False}]}
        p = torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.6, 0.3], [0.7, 0.2, 0.1]])
        want = -(np.log(0.5) + np.log(0.3) + np.log(0.2 + 0.1)) / 3
        self.assertAlmostEqual(answer_loss(p.log(), imp).item(), want, places=5)
        self.assertEqual([round(x, 5) for x in positive_mass(p.log(), imp).tolist()], [0.5, 0.1, 0.7])

    def test_language_modelling_targets_stay_inside_each_segment(self):
        imp = {"prefixIds": [5, 6, 4], "labels": [], "candidates": [{"suffixIds": [7, 8]}, {"suffixIds": [9]}]}
        # prefix 5->6->4, the prefix's last token has no single next token; 7->8, then the answer.
        self.assertEqual(lm_targets(imp).tolist(), [6, 4, -1, 8, -1, -1])

    def test_the_language_modelling_term_adds_to_the_gradient_not_to_the_answer_loss(self):
        with tempfile.TemporaryDirectory() as tmp:
            _, model = load_checkpoint(generated("llama", tmp))
        imp = impression(random.Random(5), 2048, 4, 20)
        grads, losses = [], []
        for w in (0.0, 0.5):
            model.zero_grad(set_to_none=True)
            losses.append(backward_impression(model, imp, "packed", lm_weight=w))
            grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
        self.assertAlmostEqual(losses[0], losses[1], places=5)
        self.assertGreater((grads[0] - grads[1]).abs().max().item(), 1e-3)
        with self.assertRaises(ValueError):
            backward_impression(model, imp, "separate", lm_weight=0.5)

    def test_auc(self):
        self.assertEqual(auc([0.1, 0.4, 0.35, 0.8], [False, False, True, True]), 0.75)
        self.assertEqual(auc([0.5, 0.5], [True, False]), 0.5)
        self.assertEqual(auc([1, 2, 3], [False, True, True]), 1.0)
        self.assertIsNone(auc([1, 2], [True, True]))


class OccurrenceTargets(unittest.TestCase):
    TOKENS = ["Member", "\u0120Profile", ":", "\u0120has", "\u0120applied", "\u0120software", "\u0120Software",
              "\u0120London", "\u0120Paris", "\u010a", "Question", "\u0120Seattle"]

    def vocabulary(self, tmp):
        with open(os.path.join(tmp, "tokenizer.json"), "w") as f:
            json.dump({"model": {"vocab": {t: i for i, t in enumerate(self.TOKENS)}},
                       "added_tokens": [{"id": 12, "content": "<s>"}]}, f)
        return Vocabulary(tmp)

    def test_each_suffix_word_is_looked_up_in_each_kind_of_prompt_line_without_case(self):
        with tempfile.TemporaryDirectory() as tmp:
            v = self.vocabulary(tmp)
        # Member Profile: software London \n Member has applied Paris London \n
        prefix = [0, 1, 2, 5, 7, 9, 0, 3, 4, 8, 7, 9]
        self.assertEqual(v.lines(prefix), [[0, 1, 2, 5, 7], [0, 3, 4, 8, 7]])
        imp = {"prefixIds": prefix, "candidates": [{"suffixIds": [10, 6, 8]}, {"suffixIds": [11, 7]}]}
        kinds = line_kinds([imp, {"prefixIds": [0, 1, 2, 9]}], v)
        self.assertEqual(kinds, [(0, 1, 2), (0, 3, 4)])  # the profile's kind is the more frequent
        got, own, summary = occurrence_targets(imp, v, kinds, 4)
        self.assertEqual(own.tolist(), [[1, 1, 1, 0], [1, 1, 0, 0]])
        self.assertEqual(got.shape, (2, 4, 2))
        # " Software" is the profile's " software"; " Paris" only in the applied line; " London" in both.
        self.assertEqual(got[0].tolist(), [[0, 0], [1, 0], [0, 1], [0, 0]])
        self.assertEqual(got[1].tolist(), [[0, 0], [1, 1], [0, 0], [0, 0]])
        # Shares of each candidate's own words; a word in every candidate (" Seattle" here) is not its own.
        self.assertEqual([[round(x, 4) for x in r] for r in summary.tolist()], [[0.3333, 0.3333], [0.5, 0.5]])
        imp = {"prefixIds": prefix, "candidates": [{"suffixIds": [11, 6, 8]}, {"suffixIds": [11, 7]}]}
        _, own, summary = occurrence_targets(imp, v, kinds, 3)
        self.assertEqual(own.tolist(), [[0, 1, 1], [0, 1, 0]])
        self.assertEqual(summary.tolist(), [[0.5, 0.5], [1.0, 1.0]])

    def test_the_occurrence_term_trains_the_layers_and_leaves_the_answer_loss_alone(self):
        with tempfile.TemporaryDirectory() as tmp:
            _, model = load_checkpoint(generated("llama", tmp))
        imp = impression(random.Random(6), 2048, 4, 20)
        head = OccurrenceHead(model.cfg["hidden_size"], 3, 0)
        targets = torch.zeros(4, 8, 3)
        targets[:, ::2, 1] = 1.0

        def occurrence_loss(states, hs, lengths, one):
            self.assertEqual(len(states), model.cfg["num_hidden_layers"])
            return head.loss(states, hs, lengths, (targets[:, :hs.shape[1]], torch.ones(4, hs.shape[1]),
                                                   torch.full((4, 3), 0.25)))
        grads, losses = [], []
        for occ in (None, (0.5, occurrence_loss)):
            model.zero_grad(set_to_none=True)
            losses.append(backward_impression(model, imp, "packed", occurrence=occ))
            grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
        self.assertAlmostEqual(losses[0], losses[1], places=5)
        self.assertGreater((grads[0] - grads[1]).abs().max().item(), 1e-4)
        self.assertIsNotNone(head.tokens.weight.grad)
        self.assertIsNotNone(head.summary.weight.grad)


class Checkpoint(unittest.TestCase):
    def test_save_then_load_gives_the_same_model_and_a_config_without_the_random_weights_mark(self):
        with tempfile.TemporaryDirectory() as tmp:
            src = generated("llama", tmp)
            cfg, model = load_checkpoint(src)
            out = os.path.join(tmp, "out")
            save_checkpoint(model, out, src, {"brewgate_training": {"steps": 0}})
            _, again = load_checkpoint(out)
            for (n, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items()):
                self.assertTrue(torch.equal(a, b), n)
            with open(os.path.join(out, "config.json")) as f:
                saved = json.load(f)
            self.assertNotIn("brewgate_random_weights", saved)
            self.assertEqual(saved["rope_scaling"], cfg["rope_scaling"])
            self.assertTrue(os.path.exists(os.path.join(out, "tokenizer.json")))


if __name__ == "__main__":
    unittest.main()
