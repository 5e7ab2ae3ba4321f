#!/usr/bin/env bash
# `npm start` on a fresh clone: install and build whatever is missing, then run everything.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
if [ -z "${INFERENCE_ADDRESSES:-}" ]; then
  # Only the sidecar binary, not its tests. A first build compiles it and its gRPC code: minutes on
  # a small machine, so each compiled file is shown; the whole output is printed if it fails.
  echo "npm start: building the inference sidecar (native/cuda-server; a first build takes a few minutes)"
  log=$(mktemp)
  if ! bash native/cuda-server/scripts/build.sh --target brewgate-sidecar 2>&1 | tee "$log" |
    sed -un 's#^\[ *\([0-9]*%\)\] Building [A-Z]* object .*/\([^/]*\)\.o$#  sidecar build \1  \2#p'; then
    cat "$log"
    rm -f "$log"
    echo "npm start: the sidecar build failed (output above)" >&2
    exit 1
  fi
  rm -f "$log"
fi
echo "npm start: compiling the gateway"
npx tsc -p .
# The production flag for the young generation (README, Running).
exec node --max-semi-space-size=32 dist/scripts/start-local.js
