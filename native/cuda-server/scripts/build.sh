#!/bin/sh
# Configures (once) and builds the sidecar in Release into native/cuda-server/build.
# Incremental: re-running only rebuilds what changed. Extra arguments go to cmake --build.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -f "$root/build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release
fi
cmake --build "$root/build" -j2 "$@"
