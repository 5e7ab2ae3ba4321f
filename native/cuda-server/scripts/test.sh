#!/bin/sh
# Builds the sidecar, generates the tiny test checkpoints, and runs every test: the tokenizer
# pin, GoogleTest (kernels, loader errors, engine), the gRPC end-to-end test, and the NumPy
# logits parity test. Exits non-zero on the first failure.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
py=/usr/bin/python3
"$root/scripts/build.sh"
models="$root/build/models"
mkdir -p "$models"
echo "== tokenizer"
$py "$root/tests/test_tokenizer.py"
echo "== test models"
for arch in llama mistral qwen2 qwen3 mixtral; do
  $py "$root/scripts/gen_model.py" --arch "$arch" --preset tiny --dtype f32 --seed 1 \
    --out "$models/tiny-$arch" >/dev/null
done
echo "== ctest"
(cd "$root/build" && ctest --output-on-failure)
echo "== parity"
$py "$root/scripts/parity.py" --bin "$root/build" --models "$models"
echo "all tests passed"
