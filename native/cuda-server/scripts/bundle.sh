#!/bin/sh
# Builds the GPU bundle: one folder that runs the whole GPU check on a bare CUDA machine (nvcc,
# Python with PyTorch and transformers, compute-sanitizer; no gRPC, protobuf or GoogleTest
# files), with no build step there.
#
#   native/cuda-server/scripts/bundle.sh [DIR]      (default: native/cuda-server/build-cuda/bundle)
#
# DIR/bin      the CUDA binaries (sidecar, logits tool, GPU tests, GPU benchmark), stripped
# DIR/lib      every shared library they load that DIR/ASSUMES does not list (gRPC, protobuf,
#              abseil, prometheus-cpp, OpenSSL's libcrypto, the CUDA runtime, ...)
# DIR/models   the tiny f32 test checkpoints of every architecture
# DIR/scripts  gpu-check.sh and the Python it runs (compare_hf.py, gen_model.py, ...)
# DIR/ASSUMES  what the bundle expects of the machine (DIR/assumed-libs: the libraries it does
#              not carry); DIR/MANIFEST  every file with its size
#
# Then `DIR/scripts/gpu-check.sh --bundle DIR` runs there; scripts/bundle-check.sh DIR proves
# here that the binaries start with nothing but the bundle and the assumed libraries.
# Fails when the folder exceeds BUNDLE_MAX_MIB (60).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/build-cuda/bundle}
py=${PYTHON:-/usr/bin/python3}
max_mib=${BUNDLE_MAX_MIB:-60}
bins="brewgate-sidecar brewgate-logits brewgate-cuda-tests brewgate-cuda-bench"

"$root/scripts/build-cuda.sh"

rm -rf "$out"
mkdir -p "$out/bin" "$out/lib" "$out/models" "$out/scripts"
for b in $bins; do
  cp "$root/build-cuda/$b" "$out/bin/"
  strip --strip-unneeded "$out/bin/$b"
done

# Libraries a bare CUDA image already has: the C runtime and the compiler's runtime (the
# machine's own libstdc++ must stay: compute-sanitizer loads its own code into the process,
# which needs that machine's libstdc++, not an older copy), and the driver's libcuda, which
# the CUDA runtime opens itself. Everything else the binaries load travels in lib/.
# The list travels in the bundle (assumed-libs), so bundle-check.sh checks against it.
printf '%s\n' linux-vdso.so.1 ld-linux-x86-64.so.2 libc.so.6 libm.so.6 libpthread.so.0 libdl.so.2 \
  librt.so.1 libgcc_s.so.1 libstdc++.so.6 libcuda.so.1 > "$out/assumed-libs"
for b in $bins; do
  ldd "$root/build-cuda/$b" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}'
done | sort -u | while read -r name path; do
  if grep -qxF "$name" "$out/assumed-libs"; then continue; fi
  cp -L "$path" "$out/lib/$name"
  strip --strip-unneeded "$out/lib/$name"
done
# A library ldd could not find here would be missing there too.
for b in $bins; do
  if ldd "$root/build-cuda/$b" | grep -q "not found"; then
    echo "bundle: $b: $(ldd "$root/build-cuda/$b" | grep 'not found' | head -1)" >&2
    exit 1
  fi
done

for a in llama mistral qwen2 qwen3 mixtral; do
  "$py" "$root/scripts/gen_model.py" --arch "$a" --preset tiny --dtype f32 --seed 1 \
    --out "$out/models/tiny-$a" >/dev/null
done
for s in gpu-check.sh gpu_check_summary.py compare_hf.py gen_model.py gen_tokenizer.py bf16_sim.py; do
  cp "$root/scripts/$s" "$out/scripts/"
done

# What the binaries need of the machine, read from them: the newest glibc and libstdc++
# symbol versions they reference, the CUDA version they were built with, the driver it needs.
ver() {  # newest version tag PREFIX_x.y.z referenced by the bundle's binaries and libraries
  for f in "$out"/bin/* "$out"/lib/*; do objdump -T "$f" 2>/dev/null; done |
    grep -o "$1_[0-9][0-9.]*" | sort -u -t_ -k2,2V | tail -1
}
cuda=$("${CUDACXX:-nvcc}" --version 2>/dev/null | sed -n 's/.*release \([0-9.]*\).*/\1/p')
cat > "$out/ASSUMES" <<EOF
What this bundle expects of the machine it runs on (read from its binaries when it was built):
- x86-64 Linux with glibc providing $(ver GLIBC) or newer (libc, libm, libpthread, libdl, librt,
  ld-linux-x86-64.so.2), libgcc_s.so.1, and libstdc++.so.6 providing $(ver GLIBCXX) or newer.
- An NVIDIA driver whose libcuda.so.1 supports CUDA ${cuda:-?} (580 or newer for CUDA 13.0), a GPU
  of compute capability 8.0 or 9.0 (code built for sm_80 and sm_90a), and nvidia-smi on PATH.
- For the check: sh, timeout, awk, python3 with numpy; torch, transformers and safetensors for
  compare_hf.py (without them that step reports "skipped", which is not a pass);
  compute-sanitizer on PATH or in /usr/local/cuda/bin for the sanitizer steps.
Everything else the binaries load is in lib/ (set LD_LIBRARY_PATH to it; gpu-check.sh --bundle does);
assumed-libs lists the libraries left to the machine.
EOF
(cd "$out" && find . -type f ! -name MANIFEST | sort | xargs du -b | awk '{print $2, $1}') > "$out/MANIFEST"

size=$(du -sb "$out" | cut -f1)
mib=$(( (size + 1048575) / 1048576 ))
echo "bundle: $out ($mib MiB, $(ls "$out/lib" | wc -l) libraries)"
if [ "$mib" -gt "$max_mib" ]; then
  echo "bundle: $mib MiB is over the $max_mib MiB limit; largest files:" >&2
  sort -k2,2n "$out/MANIFEST" | tail -5 >&2
  exit 1
fi
