#!/usr/bin/env bash
# The full suite: unit tests, then integration tests against the real PostgreSQL (and the other
# services they start). Usage: scripts/test.sh [compiled test files: dist/test/**/*.test.js ...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
if [ "$#" -eq 0 ]; then
  # The sidecar's own suite (kernels, loader, engine, gRPC, NumPy parity); it builds incrementally.
  bash native/cuda-server/scripts/test.sh
else
  # Integration tests run the real sidecar.
  bash native/cuda-server/scripts/build.sh >/dev/null
fi
npx tsc -p .
npx biome check src test scripts
if [ "$#" -eq 0 ]; then mapfile -t files < <(find dist/test -name "*.test.js" | sort); set -- "${files[@]}"; fi
# One file at a time: integration files start brokers and servers on fixed local ports.
exec node --test --test-concurrency=1 --test-reporter=spec "$@"
