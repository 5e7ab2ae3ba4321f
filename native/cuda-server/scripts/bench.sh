#!/bin/sh
# CPU benchmark on the ~100M-parameter Llama-shaped random model, once per weight type in one
# run so the figures are comparable: f32 on the f32 checkpoint, bf16 and int8 on the same
# weights stored as bf16 (what Hugging Face checkpoints ship). Both checkpoints are generated
# on first use into build/models/llama-100m{,-bf16}. Stdout: one JSON object per weight type,
# one line each, in the order run. Usage: bench.sh [THREADS [WEIGHTS...]] (default: 2 f32 bf16 int8)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
threads=${1:-2}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] || set -- f32 bf16 int8
"$root/scripts/build.sh" >/dev/null
for dtype in f32 bf16; do
  model="$root/build/models/llama-100m"
  [ "$dtype" = f32 ] || model="$model-$dtype"
  if [ ! -f "$model/model.safetensors" ]; then
    /usr/bin/python3 "$root/scripts/gen_model.py" --arch llama --preset 100m --dtype "$dtype" \
      --seed 1 --out "$model" >&2
  fi
done
for weights in "$@"; do
  model="$root/build/models/llama-100m"
  [ "$weights" = f32 ] || model="$model-bf16"
  echo "== weights $weights ($model)" >&2
  "$root/build/brewgate-bench" --model "$model" --threads "$threads" --weights "$weights"
done
