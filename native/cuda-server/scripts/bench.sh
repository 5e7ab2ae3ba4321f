#!/bin/sh
# CPU benchmark on the ~100M-parameter Llama-shaped random model (generated on first use into
# build/models/llama-100m). Last stdout line: one JSON object. Usage: bench.sh [THREADS]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
threads=${1:-2}
"$root/scripts/build.sh" >/dev/null
model="$root/build/models/llama-100m"
if [ ! -f "$model/model.safetensors" ]; then
  /usr/bin/python3 "$root/scripts/gen_model.py" --arch llama --preset 100m --dtype f32 --seed 1 \
    --out "$model" >&2
fi
"$root/build/brewgate-bench" --model "$model" --threads "$threads"
