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
npx biome check src test scripts bench dev
if [ "$#" -eq 0 ]; then mapfile -t files < <(find dist/test -name "*.test.js" | sort); set -- "${files[@]}"; fi
# One file at a time: integration files start brokers and servers on fixed local ports. A file
# that runs past TEST_FILE_TIMEOUT_MS (a hung test, or a process that does not exit when its tests
# are done) is killed and fails with its name; the longest file takes well under a minute here.
exec node --test --test-concurrency=1 --test-timeout="${TEST_FILE_TIMEOUT_MS:-240000}" --test-reporter=spec "$@"
