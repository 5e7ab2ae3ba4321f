#!/usr/bin/env bash
# `npm start` on a fresh clone: install and build whatever is missing, then run everything.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
if [ -z "${INFERENCE_ADDRESSES:-}" ]; then bash native/cuda-server/scripts/build.sh >/dev/null; fi
npx tsc -p .
exec node dist/scripts/start-local.js
