#!/usr/bin/env bash
# `npm start` on a fresh clone: install and build whatever is missing, then run everything.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
if [ -z "${INFERENCE_ADDRESSES:-}" ]; then bash native/cuda-server/scripts/build.sh >/dev/null; fi
npx tsc -p .
# The production flag for the young generation (README, Running).
exec node --max-semi-space-size=32 dist/scripts/start-local.js
