#!/bin/sh
# Configures (until a configure has succeeded) and builds the sidecar in Release into
# native/cuda-server/build.
# Incremental: re-running only rebuilds what changed. Extra arguments go to cmake --build.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
# A configure that failed (a missing dependency, say) leaves a cache but no Makefile: run it again.
if [ ! -f "$root/build/Makefile" ]; then
  cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release
fi
cmake --build "$root/build" -j2 "$@"
