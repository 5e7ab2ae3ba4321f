#!/bin/sh
# One command for a GPU machine: builds with CUDA, runs the GPU tests (kernels against CPU
# references, whole models against the CPU backend), compute-sanitizer memcheck and racecheck,
# the comparison with Hugging Face transformers, and the GPU benchmark. Prints a summary
# table, then one JSON line last. Logs go to $OUT (or build-cuda/gpu-check) when set.
#
#   native/cuda-server/scripts/gpu-check.sh [--full]
#
# --full: the benchmark with 100 timed requests per point instead of 20.
#
# Exits 1 at once with "no CUDA device" where there is no GPU; otherwise non-zero when any
# step failed. Each step has a time limit, cut to what is left of a 570 s budget for the
# whole run, so it ends inside 10 minutes whatever hangs.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-python3}
quick="--quick"
[ "${1:-}" = "--full" ] && quick=""

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L 2>/dev/null | grep -q "^GPU"; then
  echo "gpu-check: no CUDA device" >&2
  echo '{"gpu_check":"failed","reason":"no CUDA device"}'
  exit 1
fi

logs=${OUT:-$root/build-cuda/gpu-check}
mkdir -p "$logs"
bin=$root/build-cuda
models=$bin/models
summary=$logs/summary.tsv
: > "$summary"
failed=0

start=$(date +%s)
# step NAME LIMIT_S COMMAND...: runs with a time limit, logs to $logs/NAME.log, records status.
step() {
  name=$1 limit=$2
  shift 2
  echo "== $name"
  t0=$(date +%s)
  left=$((570 - (t0 - start)))
  if [ "$left" -le 5 ]; then
    printf '%s\t%s\t0\n' "$name" "SKIP(time)" >> "$summary"
    failed=1
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  if timeout "$limit" "$@" > "$logs/$name.log" 2>&1; then st=ok; else st="FAIL($?)"; failed=1; fi
  # A step that could not run here (compare_hf without transformers) says so: not a pass.
  if [ "$st" = ok ] && grep -q "^skipped:" "$logs/$name.log"; then st=skipped; fi
  t1=$(date +%s)
  tail -n 5 "$logs/$name.log"
  printf '%s\t%s\t%s\n' "$name" "$st" "$((t1 - t0))" >> "$summary"
}

cs=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
step build 240 env JOBS="$(nproc)" "$root/scripts/build-cuda.sh"
mkdir -p "$models"
step models 60 sh -c "for a in llama mistral qwen2 qwen3 mixtral; do
  $py '$root/scripts/gen_model.py' --arch \$a --preset tiny --dtype f32 --seed 1 --out '$models/tiny-'\$a >/dev/null || exit 1; done"
step gpu-tests 120 env BREWGATE_TEST_MODELS="$models" "$bin/brewgate-cuda-tests"
# Sanitizers over a slice: every kernel test plus one whole model (MoE: every kernel kind).
step memcheck 120 env BREWGATE_TEST_MODELS="$models" "$cs" --tool memcheck --error-exitcode 1 \
  "$bin/brewgate-cuda-tests" --gtest_filter='Cuda*:Archs/CudaModel.LogitsMatchCpuBackend/tiny_mixtral'
step racecheck 90 env BREWGATE_TEST_MODELS="$models" "$cs" --tool racecheck --error-exitcode 1 \
  "$bin/brewgate-cuda-tests" \
  --gtest_filter='CudaAttention.*:CudaGemm.GroupedMatchesPerGroupReference:CudaMoe.*:CudaKernels.*'
step compare-hf 90 "$py" "$root/scripts/compare_hf.py" --bin "$bin" --models "$models" --backend cuda --nmse-tol 1e-3
step compare-hf-cpu 60 "$py" "$root/scripts/compare_hf.py" --bin "$bin" --models "$models"
step bench 300 "$bin/brewgate-cuda-bench" $quick --json "$logs/bench.json"

echo
printf '%-15s %-10s %s\n' step status seconds
while IFS="$(printf '\t')" read -r n s t; do printf '%-15s %-10s %s\n' "$n" "$s" "$t"; done < "$summary"
bench_json=$(cat "$logs/bench.json" 2>/dev/null || echo null)
steps_json=$(awk -F'\t' 'BEGIN{printf "{"} {printf "%s\"%s\":{\"status\":\"%s\",\"s\":%s}", (NR>1?",":""), $1, $2, $3} END{printf "}"}' "$summary")
status=$([ "$failed" = 0 ] && echo passed || echo failed)
echo "{\"gpu_check\":\"$status\",\"steps\":$steps_json,\"bench\":$bench_json}"
exit "$failed"
