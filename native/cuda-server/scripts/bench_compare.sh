#!/bin/sh
# The CPU benchmark against an older revision of this repository, on the same run: builds that
# revision's brewgate-bench once (a git worktree under build/compare/REV), then runs the old and
# the current binary alternately, ROUNDS times each, on one checkpoint, so that a shared
# machine's load hits both alike; each run keeps the better of 2 rounds (a first is often
# cold). The old binary gets --model, --threads and --rounds (every revision takes those)
# and $OLD_FLAGS if set (flags that revision knows); the current one gets NEW_FLAGS too
# (--weights bf16, say).
# Stdout: each run's JSON line with "side": "old" or "new" added, then one summary line: the
# median prefill, decode and scoring figures of each side and new / old.
# Usage: bench_compare.sh REV MODEL_DIR [ROUNDS [THREADS [NEW_FLAGS...]]]
#   e.g. bench_compare.sh db72407 build/models/llama-100m-bf16 3 2 --weights bf16
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 2 ] || { echo "usage: bench_compare.sh REV MODEL_DIR [ROUNDS [THREADS [NEW_FLAGS...]]]" >&2; exit 2; }
rev=$(git -C "$root" rev-parse --short "$1")
model=$2
rounds=${3:-3}
threads=${4:-2}
shift $(($# < 4 ? $# : 4))
"$root/scripts/build.sh" --target brewgate-bench >/dev/null
old="$root/build/compare/$rev"
if [ ! -x "$old/native/cuda-server/build/brewgate-bench" ]; then
  rm -rf "$old"
  git -C "$root" worktree prune
  git -C "$root" worktree add --detach "$old" "$rev" >&2
  sh "$old/native/cuda-server/scripts/build.sh" --target brewgate-bench >&2
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
i=1
while [ "$i" -le "$rounds" ]; do
  echo "== round $i: old ($rev) ${OLD_FLAGS:-}" >&2
  # shellcheck disable=SC2086 # OLD_FLAGS is a list of words
  "$old/native/cuda-server/build/brewgate-bench" --model "$model" --threads "$threads" --rounds 2 \
    ${OLD_FLAGS:-} |
    tail -n 1 | sed 's/^{/{"side": "old", /' | tee -a "$out"
  echo "== round $i: new $*" >&2
  "$root/build/brewgate-bench" --model "$model" --threads "$threads" --rounds 2 "$@" |
    tail -n 1 | sed 's/^{/{"side": "new", /' | tee -a "$out"
  i=$((i + 1))
done
/usr/bin/python3 - "$out" "$rev" <<'PY'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
keys = ("prefill_tok_s", "decode_tok_s", "score_items_s")
summary = {"compare": sys.argv[2], "rounds": sum(r["side"] == "old" for r in runs)}
for side in ("old", "new"):
    for k in keys:
        summary[f"{side}_{k}"] = round(statistics.median(r[k] for r in runs if r["side"] == side), 2)
for k in keys:
    summary[f"ratio_{k}"] = round(summary[f"new_{k}"] / summary[f"old_{k}"], 2)
print(json.dumps(summary))
PY
