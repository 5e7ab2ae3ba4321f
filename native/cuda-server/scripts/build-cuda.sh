#!/bin/sh
# Configures (once) and builds the sidecar with the CUDA backend into native/cuda-server/build-cuda
# (sm_80 and sm_90a). Needs nvcc, not a GPU: CI runs it to keep the CUDA build compiling.
# Extra arguments go to cmake --build; JOBS sets the parallel jobs (default 2, the CI machine's).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
nvcc=${CUDACXX:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
if [ ! -x "$nvcc" ]; then
  echo "build-cuda: nvcc not found (set CUDACXX or put nvcc on PATH)" >&2
  exit 1
fi
# A configure that failed leaves a cache but no Makefile: run it again.
if [ ! -f "$root/build-cuda/Makefile" ]; then
  cmake -S "$root" -B "$root/build-cuda" -DCMAKE_BUILD_TYPE=Release -DBREWGATE_CUDA=ON \
    -DCMAKE_CUDA_COMPILER="$nvcc"
fi
# Without arguments: the targets that involve CUDA code (the CPU-only tests build in build/).
if [ "$#" -eq 0 ]; then
  set -- --target brewgate_cuda brewgate-sidecar brewgate-logits brewgate-cuda-tests \
    brewgate-cuda-bench
fi
cmake --build "$root/build-cuda" -j"${JOBS:-2}" "$@"
