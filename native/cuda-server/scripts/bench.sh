#!/bin/sh
# CPU benchmark on the ~100M-parameter Llama-shaped random model, once per weight type in one
# run so the figures are comparable: f32 on the f32 checkpoint, bf16 and int8 on the same
# weights stored as bf16 (what Hugging Face checkpoints ship), f16 on them stored as f16. The
# checkpoints are generated on first use into build/models/llama-100m{,-bf16,-f16}; bf16/bf16
# is bf16 weights with bf16 activations (--activations bf16). Stdout: one JSON object per
# weight type, one line each, in the order run.
# Usage: bench.sh [THREADS [WEIGHTS[/ACTIVATIONS]...]] (default: 2 f32 bf16 bf16/bf16 f16 int8)
# Then, unless BENCH_NORMALIZE=0, what labels-only scoring saves over full-vocabulary scoring on
# a Qwen3-0.6B-shaped bf16 checkpoint (vocabulary 151,936; 1.2 GB, generated on first use into
# build/models/qwen3-0.6b-shape): one more JSON line.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
threads=${1:-2}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] || set -- f32 bf16 bf16/bf16 f16 int8
"$root/scripts/build.sh" >/dev/null
for dtype in f32 bf16 f16; do
  model="$root/build/models/llama-100m"
  [ "$dtype" = f32 ] || model="$model-$dtype"
  if [ ! -f "$model/model.safetensors" ]; then
    /usr/bin/python3 "$root/scripts/gen_model.py" --arch llama --preset 100m --dtype "$dtype" \
      --seed 1 --out "$model" >&2
  fi
done
for spec in "$@"; do
  weights=${spec%%/*}
  activations=f32
  case "$spec" in */*) activations=${spec#*/} ;; esac
  model="$root/build/models/llama-100m"
  case "$weights" in f32) ;; f16) model="$model-f16" ;; *) model="$model-bf16" ;; esac
  echo "== weights $weights, activations $activations ($model)" >&2
  "$root/build/brewgate-bench" --model "$model" --threads "$threads" --weights "$weights" \
    --activations "$activations"
done
if [ "${BENCH_NORMALIZE:-1}" != 0 ]; then
  model="$root/build/models/qwen3-0.6b-shape"
  if [ ! -f "$model/model.safetensors" ]; then
    /usr/bin/python3 "$root/scripts/gen_model.py" --arch qwen3 --preset 100m --hidden 1024 \
      --layers 28 --heads 16 --kv-heads 8 --head-dim 128 --intermediate 3072 --vocab 151936 \
      --max-pos 40960 --tie yes --dtype bf16 --seed 1 --out "$model" >&2
  fi
  echo "== labels-only vs full-vocabulary scoring ($model)" >&2
  # A member ranked again: 500-token prefix already cached, 50 candidates of 10 tokens.
  "$root/build/brewgate-bench" --model "$model" --threads "$threads" --weights bf16 \
    --compare-normalize --prefix 500 --candidates 50 --candidate-tokens 10 --rounds 3
fi
