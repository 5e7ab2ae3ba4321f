#!/bin/sh
# Proves, on a machine without a GPU, that the GPU bundle (scripts/bundle.sh) starts with
# nothing but itself and the libraries it says it assumes (its assumed-libs): each binary must
# run and refuse with "no CUDA device", never with a loader error.
#
#   native/cuda-server/scripts/bundle-check.sh [DIR]   (default: native/cuda-server/build-cuda/bundle)
#
# As root it builds a bare root file system holding only the assumed libraries (copied from
# this machine) and the bundle, and runs each binary chrooted into it, so no library of this
# machine can be picked up by accident. Without root (or where chroot is refused) it runs the
# binaries with LD_LIBRARY_PATH set to the bundle alone and checks with the loader's own trace
# that every library came from the bundle or the assumed list. Prints which way it checked.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
bundle=$(cd "${1:-$root/build-cuda/bundle}" && pwd)
assumed=$bundle/assumed-libs  # the libraries the bundle does not carry, one name a line
[ -f "$assumed" ] || { echo "bundle-check: $assumed is missing: not a bundle from bundle.sh" >&2; exit 1; }
failed=0

# run_all DIR [PREFIX...]: runs each binary of the bundle at DIR (as the binary sees it), with
# PREFIX before it; one line per binary; failed=1 unless it said "no CUDA device".
run_all() {
  dir=$1
  shift
  for b in brewgate-cuda-tests brewgate-cuda-bench "brewgate-sidecar --backend cuda --model $dir/models/tiny-llama" \
           "brewgate-logits --backend cuda --model $dir/models/tiny-llama --ids 1,2 --out /tmp/bundle-check.f32"; do
    name=${b%% *}
    args=${b#"$name"}
    # shellcheck disable=SC2086  # args are split on purpose
    if out=$("$@" env LD_LIBRARY_PATH="$dir/lib" "$dir/bin/$name" $args 2>&1); then rc=0; else rc=$?; fi
    if printf '%s' "$out" | grep -q "error while loading shared libraries\|not found"; then
      echo "bundle-check: $name: loader error: $out" >&2
      failed=1
    elif [ "$rc" != 0 ] && printf '%s' "$out" | grep -q "no CUDA device"; then
      echo "bundle-check: $name: starts, exit $rc: $(printf '%s' "$out" | tail -1)"
    else
      echo "bundle-check: $name: exit $rc without 'no CUDA device': $out" >&2
      failed=1
    fi
  done
}

if [ "$(id -u)" = 0 ] && chroot / true 2>/dev/null; then
  jail=$(mktemp -d)
  trap 'rm -rf "$jail"' EXIT
  mkdir -p "$jail/lib/x86_64-linux-gnu" "$jail/lib64" "$jail/tmp" "$jail/usr/bin" "$jail/bundle"
  # The assumed libraries, as resolved for the bundle's binaries on this machine.
  for f in "$bundle"/bin/*; do LD_LIBRARY_PATH="$bundle/lib" ldd "$f"; done |
    awk '$2 == "=>" && $3 ~ /^\// {print $1, $3} $1 ~ /^\/.*ld-linux/ {print "ld-linux-x86-64.so.2", $1}' |
    sort -u | while read -r name path; do
      case "$path" in "$bundle"/*) continue ;; esac
      if ! printf '%s\n' "$name" | grep -qxF -f "$assumed"; then
        echo "bundle-check: $name resolves outside the bundle ($path) and is not assumed" >&2
        echo "$name" >> "$jail/tmp/missing"
        continue  # left out of the jail, so the run below shows the loader's own error too
      fi
      cp -L "$path" "$jail/lib/x86_64-linux-gnu/$name"
    done
  [ -f "$jail/tmp/missing" ] && failed=1
  cp -L /lib64/ld-linux-x86-64.so.2 "$jail/lib64/"
  cp -L "$(command -v env)" "$jail/usr/bin/env"
  cp -a "$bundle/." "$jail/bundle/"
  echo "bundle-check: chroot holding only the bundle and $(ls "$jail/lib/x86_64-linux-gnu" | tr '\n' ' ')"
  run_all /bundle chroot "$jail"
else
  echo "bundle-check: not root or chroot refused: checking with LD_LIBRARY_PATH and the loader's trace"
  for f in "$bundle"/bin/*; do
    LD_LIBRARY_PATH="$bundle/lib" ldd "$f" | awk '$2 == "=>" {print $1, $3}' | while read -r name path; do
      case "$path" in "$bundle"/*) continue ;; esac
      if ! printf '%s\n' "$name" | grep -qxF -f "$assumed"; then
        echo "bundle-check: $(basename "$f"): $name comes from $path, not the bundle" >&2
        exit 1
      fi
    done || failed=1
  done
  run_all "$bundle"
fi
[ "$failed" = 0 ] && echo "bundle-check: ok" || echo "bundle-check: FAILED" >&2
exit "$failed"
