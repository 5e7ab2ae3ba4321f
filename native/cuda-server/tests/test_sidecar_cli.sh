#!/bin/sh
# The sidecar binary as a process: flag validation, load errors, the ready line, and a clean
# exit 0 on SIGTERM.  Usage: test_sidecar_cli.sh BIN MODELS_DIR
set -u
bin=$1
models=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

expect_exit() {  # code, stderr substring, args...
  want=$1; text=$2; shift 2
  "$bin" "$@" >"$tmp/out" 2>"$tmp/err"
  got=$?
  [ "$got" = "$want" ] || fail "'$*' exited $got, expected $want: $(cat "$tmp/err")"
  grep -qF -- "$text" "$tmp/err" || fail "'$*' stderr lacks '$text': $(cat "$tmp/err")"
}

start_sidecar() {  # args...: starts it in the background ($pid) and waits for its ready line
  # Gone before the start: the background shell truncates them only when it gets to run, and
  # a poll before that would read the last start's ready line.
  rm -f "$tmp/out" "$tmp/err"
  "$bin" "$@" >"$tmp/out" 2>"$tmp/err" &
  pid=$!
  i=0
  while ! grep -q "listening on" "$tmp/out" 2>/dev/null; do
    i=$((i + 1))
    [ $i -gt 100 ] && { kill "$pid"; fail "'$*': no ready line: $(cat "$tmp/err")"; }
    sleep 0.1
  done
}

expect_exit 2 "--model is required"
expect_exit 2 "--threads: expected an integer" --model "$models/tiny-llama" --threads abc
expect_exit 2 "--kv-budget-mb: expected an integer" --model "$models/tiny-llama" --kv-budget-mb 0
expect_exit 2 "unknown flag --bogus" --model "$models/tiny-llama" --bogus 1
expect_exit 2 "is not a directory" --model "$tmp/nowhere"
expect_exit 2 "--block-tokens: expected a multiple of 16" --model "$models/tiny-llama" --block-tokens 24
expect_exit 2 "--metrics-listen: expected HOST:PORT" --model "$models/tiny-llama" --metrics-listen 9400
expect_exit 2 "--weights: expected f32, bf16, f16 or int8, got 'q4'" --model "$models/tiny-llama" --weights q4
expect_exit 2 "--activations: expected f32 or bf16, got 'f16'" --model "$models/tiny-llama" --activations f16
expect_exit 2 "--activations bf16 needs --weights bf16, got --weights int8" --model "$models/tiny-llama" \
  --weights int8 --activations bf16
# An f32 checkpoint is served from f32 weights by default: bf16 activations cannot go with them.
expect_exit 1 "bf16 activations need bf16 weights, got f32 weights" --model "$models/tiny-llama" \
  --activations bf16 --listen 127.0.0.1:0
mkdir "$tmp/bad"
sed 's/LlamaForCausalLM/BertModel/' "$models/tiny-llama/config.json" >"$tmp/bad/config.json"
expect_exit 1 "unknown architecture" --model "$tmp/bad" --listen 127.0.0.1:0

# Several rounds: signal delivery to gRPC's threads once made this exit 143 only sometimes.
# The metrics endpoint's threads must not keep the process up either. One weight type a round.
for round in 1 2 3; do
  weights=$(echo "f32 int8 bf16" | cut -d" " -f"$round")
  start_sidecar --model "$models/tiny-llama" --listen 127.0.0.1:0 --threads 1 --kv-budget-mb 16 \
    --metrics-listen 127.0.0.1:0 --weights "$weights"
  grep -Eq '^listening on 127\.0\.0\.1:[1-9][0-9]*$' "$tmp/out" || fail "ready line: $(cat "$tmp/out")"
  metrics=$(sed -n 's|^metrics: http://127\.0\.0\.1:\([1-9][0-9]*\)/metrics$|\1|p' "$tmp/err")
  [ -n "$metrics" ] || fail "no metrics line: $(cat "$tmp/err")"
  grep -Eq "; weights $weights \([0-9.]+ MiB\); activations f32\$" "$tmp/err" ||
    fail "round $round: no 'weights $weights (N MiB); activations f32': $(cat "$tmp/err")"
  # The weights' memory, as the README sizes it: 4, 2 and about 1.1 bytes per parameter.
  eval "mib_$weights=$(sed -n "s/.*; weights $weights (\([0-9.]*\) MiB).*/\1/p" "$tmp/err")"
  if [ "$round" = 1 ]; then
    # Its port is taken: a second sidecar stops at once, before loading the model.
    timeout 30 "$bin" --model "$models/tiny-llama" --listen 127.0.0.1:0 \
      --metrics-listen "127.0.0.1:$metrics" >"$tmp/out2" 2>"$tmp/err2"
    got=$?
    [ "$got" = 1 ] || fail "a taken --metrics-listen port exited $got, expected 1: $(cat "$tmp/err2")"
    grep -qF "cannot listen on 127.0.0.1:$metrics for --metrics-listen" "$tmp/err2" ||
      fail "taken --metrics-listen port: $(cat "$tmp/err2")"
  fi
  kill -TERM "$pid"
  wait "$pid"
  code=$?
  [ "$code" = 0 ] || fail "round $round: exit $code after SIGTERM: $(cat "$tmp/err")"
done
awk -v f32="$mib_f32" -v bf16="$mib_bf16" -v int8="$mib_int8" 'BEGIN {
  exit !(f32 > 0 && bf16 / f32 > 0.48 && bf16 / f32 < 0.52 && int8 / f32 > 0.26 && int8 / f32 < 0.31)
}' || fail "weight memory f32 $mib_f32, bf16 $mib_bf16, int8 $mib_int8 MiB: not 4 : 2 : ~1.1 bytes per parameter"
# A weight f16 cannot hold (1e5 > 65504) stops the load with the file, tensor and element.
mkdir "$tmp/big"
cp "$models/tiny-llama/config.json" "$tmp/big/"
/usr/bin/python3 - "$models/tiny-llama/model.safetensors" "$tmp/big/model.safetensors" <<'PY' || fail "writing the 1e5 checkpoint"
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
data = bytearray(raw[8 + n:])
at = header["model.layers.0.mlp.down_proj.weight"]["data_offsets"][0] + 4 * 3
data[at:at + 4] = struct.pack("<f", 1e5)
open(sys.argv[2], "wb").write(raw[:8 + n] + bytes(data))
PY
expect_exit 1 "tensor 'model.layers.0.mlp.down_proj.weight' cannot be held as f16 weights: element [0, 3]" \
  --model "$tmp/big" --weights f16 --listen 127.0.0.1:0

# Without --weights: a checkpoint stored all in BF16 (or F16) is served from 16-bit weights;
# a third round serves the bf16 one with bf16 activations.
for dtype in bf16 f16 bf16-act; do
  act=f32
  if [ "$dtype" = bf16-act ]; then
    dtype=bf16 act=bf16
  else
    /usr/bin/python3 "$(dirname "$0")/../scripts/gen_model.py" --arch llama --preset tiny \
      --dtype "$dtype" --seed 1 --out "$tmp/$dtype" >/dev/null || fail "gen_model $dtype"
  fi
  start_sidecar --model "$tmp/$dtype" --listen 127.0.0.1:0 --threads 1 --kv-budget-mb 16 \
    --activations "$act"
  grep -Eq "; weights $dtype \([0-9.]+ MiB\); activations $act" "$tmp/err" ||
    fail "$dtype checkpoint, --activations $act: not served as $dtype/$act: $(cat "$tmp/err")"
  kill -TERM "$pid"
  wait "$pid" || fail "$dtype: exit $? after SIGTERM"
done
echo "sidecar cli ok"
