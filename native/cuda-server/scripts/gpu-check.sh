#!/bin/sh
# One command for a GPU machine: the GPU tests (kernels against CPU references, whole models
# against the CPU backend), compute-sanitizer memcheck and racecheck, the comparison with
# Hugging Face transformers on both backends, and the GPU benchmark. Prints a summary table,
# then one JSON line last (gpu_check_summary.py). Logs go to $GPU_CHECK_LOGS (default DIR/gpu-check
# or build-cuda/gpu-check); where $OUT is set (the GPU machine's folder of files that come back),
# the JSON line is also written to $OUT/gpu-check.json and the logs to $OUT/gpu-check-logs.tar.gz.
#
#   gpu-check.sh --bundle DIR [--full]   runs from a bundle made by scripts/bundle.sh: no build
#                                        step, nothing needed beyond DIR/ASSUMES; ends inside
#                                        8 minutes (a 470 s budget for its steps)
#   gpu-check.sh [--full]                builds first (needs gRPC, protobuf, GoogleTest
#                                        development files); a 570 s budget
#
# --full: the benchmark with 100 timed requests per point instead of 20.
#
# Exits 1 at once with "no CUDA device" where there is no GPU; otherwise non-zero unless every
# step passed. Each step has a time limit, cut to what is left of the budget, so the run ends
# on time whatever hangs; a step cut or skipped is reported as such, never as a pass.
# GPU_CHECK_BUDGET_S replaces the budget (the orchestration test cuts it short).
set -u
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-python3}
quick="--quick"
bundle=""
while [ "$#" -gt 0 ]; do
  case "$1" in
    --full) quick="" ;;
    --bundle)
      [ "$#" -ge 2 ] || { echo "gpu-check: --bundle needs a folder" >&2; exit 2; }
      bundle=$(cd "$2" && pwd) || exit 2
      shift ;;
    *) echo "usage: gpu-check.sh [--bundle DIR] [--full]" >&2; exit 2 ;;
  esac
  shift
done

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L 2>/dev/null | grep -q "^GPU"; then
  echo "gpu-check: no CUDA device" >&2
  echo '{"gpu_check":"failed","reason":"no CUDA device"}'
  exit 1
fi

if [ -n "$bundle" ]; then
  mode=bundle budget=470
  bin=$bundle/bin models=$bundle/models scripts=$bundle/scripts
  export LD_LIBRARY_PATH="$bundle/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  logs=${GPU_CHECK_LOGS:-$bundle/gpu-check}
else
  mode=build budget=570
  root=$(cd "$here/.." && pwd)
  bin=$root/build-cuda models=$root/build-cuda/models scripts=$here
  logs=${GPU_CHECK_LOGS:-$root/build-cuda/gpu-check}
fi
budget=${GPU_CHECK_BUDGET_S:-$budget}
mkdir -p "$logs"
summary=$logs/summary.tsv
: > "$summary"

start=$(date +%s)
# step NAME LIMIT_S COMMAND...: runs with a time limit, logs to $logs/NAME.log, records status.
step() {
  name=$1 limit=$2
  shift 2
  echo "== $name"
  t0=$(date +%s)
  left=$((budget - (t0 - start)))
  if [ "$left" -le 5 ]; then
    printf '%s\t%s\t0\n' "$name" "SKIP(time)" >> "$summary"
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  if timeout "$limit" "$@" > "$logs/$name.log" 2>&1; then st=ok
  else rc=$?; [ "$rc" = 124 ] && st="FAIL(timeout ${limit}s)" || st="FAIL($rc)"; fi
  # A step that could not run here (compare_hf without transformers) says so: not a pass.
  if [ "$st" = ok ] && grep -q "^skipped:" "$logs/$name.log"; then st=skipped; fi
  t1=$(date +%s)
  tail -n 5 "$logs/$name.log"
  printf '%s\t%s\t%s\n' "$name" "$st" "$((t1 - t0))" >> "$summary"
}

cs=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
if [ "$mode" = build ]; then
  # 240 + 60 s of the 570: what bundle mode saves by building here beforehand.
  step build 240 env JOBS="$(nproc)" "$root/scripts/build-cuda.sh"
  mkdir -p "$models"
  step models 60 sh -c "for a in llama mistral qwen2 qwen3 mixtral; do
    $py '$scripts/gen_model.py' --arch \$a --preset tiny --dtype f32 --seed 1 --out '$models/tiny-'\$a >/dev/null || exit 1; done"
fi
hf_models=$(mktemp -d)  # compare_hf.py writes its checkpoints here, never into the bundle or logs
trap 'rm -rf "$hf_models"' EXIT
step gpu-tests 90 env BREWGATE_TEST_MODELS="$models" "$bin/brewgate-cuda-tests" \
  --gtest_output="json:$logs/gpu-tests.json"
# Sanitizers over a slice: every kernel test plus one whole model (MoE: every kernel kind).
step memcheck 90 env BREWGATE_TEST_MODELS="$models" "$cs" --tool memcheck --error-exitcode 1 \
  "$bin/brewgate-cuda-tests" --gtest_filter='Cuda*:Archs/CudaModel.LogitsMatchCpuBackend/tiny_mixtral'
step racecheck 60 env BREWGATE_TEST_MODELS="$models" "$cs" --tool racecheck --error-exitcode 1 \
  "$bin/brewgate-cuda-tests" \
  --gtest_filter='CudaAttention.*:CudaGemm.GroupedMatchesPerGroupReference:CudaMoe.*:CudaKernels.*'
step compare-hf 50 "$py" "$scripts/compare_hf.py" --bin "$bin" --models "$hf_models" --backend cuda \
  --nmse-tol 1e-3 --json "$logs/compare-hf.json"
step compare-hf-cpu 30 "$py" "$scripts/compare_hf.py" --bin "$bin" --models "$hf_models" \
  --json "$logs/compare-hf-cpu.json"
step bench 150 "$bin/brewgate-cuda-bench" $quick --json "$logs/bench.json"

echo
printf '%-15s %-18s %s\n' step status seconds
while IFS="$(printf '\t')" read -r n s t; do printf '%-15s %-18s %s\n' "$n" "$s" "$t"; done < "$summary"
line=$("$py" "$scripts/gpu_check_summary.py" "$logs" "$mode" "$(($(date +%s) - start))")
if [ -z "$line" ]; then  # no Python: the step table alone, still one JSON line
  steps=$(awk -F'\t' 'BEGIN{printf "{"} {printf "%s\"%s\":{\"status\":\"%s\",\"s\":%s}", (NR>1?",":""), $1, $2, $3} END{printf "}"}' "$summary")
  line="{\"gpu_check\":\"failed\",\"reason\":\"gpu_check_summary.py did not run\",\"steps\":$steps}"
fi
echo "$line"
if [ -n "${OUT:-}" ] && [ -d "$OUT" ]; then
  echo "$line" > "$OUT/gpu-check.json"
  tar czf "$OUT/gpu-check-logs.tar.gz" -C "$logs" .
fi
case "$line" in *'"gpu_check":"passed"'*) exit 0 ;; *) exit 1 ;; esac
