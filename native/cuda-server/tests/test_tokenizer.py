#!/usr/bin/python3
"""Pins the test tokenizer: ids of a sample sentence, special-token ids, and the byte layout.

The expected ids were produced by the Hugging Face `tokenizers` npm package (0.23.2,
Tokenizer.fromFile) on the generated tokenizer.json and agree with this module's encoder;
a change to the corpus or the trainer shows up here before it reaches the gateway's tests.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import gen_tokenizer as gt  # noqa: E402

SAMPLE = ("Answer: The member will apply to the Software Engineer job at Google in "
          "Sunnyvale, café 2024!")
SAMPLE_IDS_2048 = [382, 58, 388, 306, 378, 434, 739, 284, 281, 500, 32, 69, 110, 103, 345,
                   256, 316, 272, 116, 730, 347, 906, 44, 290, 582, 195, 169, 869, 48, 50, 52,
                   33]
SAMPLE_IDS_8192 = [382, 58, 388, 306, 378, 434, 739, 284, 281, 500, 32, 3244, 103, 345, 256,
                   316, 272, 116, 730, 347, 906, 44, 290, 582, 195, 169, 869, 48, 50, 52, 33]


def check(cond, what):
    if not cond:
        print(f"FAIL: {what}")
        sys.exit(1)


def main():
    for size, expected in ((2048, SAMPLE_IDS_2048), (8192, SAMPLE_IDS_8192)):
        doc = gt.build(size)
        vocab = doc["model"]["vocab"]
        check(len(vocab) == size - 3, f"vocab {size}: model vocab has {len(vocab)} entries")
        check(sorted(vocab.values()) == list(range(size - 3)), f"vocab {size}: ids not dense")
        check([vocab[s] for s in gt.BYTE_SYMBOLS] == list(range(256)),
              f"vocab {size}: first 256 ids are not the byte symbols in byte order")
        check([t["id"] for t in doc["added_tokens"]] == [size - 3, size - 2, size - 1],
              f"vocab {size}: special tokens not at the last three ids")
        check(gt.special_ids(size) == (size - 3, size - 2, size - 1), "special_ids")
        got = gt.encode(doc, SAMPLE)
        check(got == expected, f"vocab {size}: sample ids\n expected {expected}\n got      {got}")
        check(doc == gt.build(size), f"vocab {size}: build is not deterministic")
    print("tokenizer ok")


if __name__ == "__main__":
    main()
