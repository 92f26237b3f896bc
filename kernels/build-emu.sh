#!/usr/bin/env bash
# Compiles the CUDA kernels (src/main/cuda/*.cu) with the host C++ compiler into the CPU emulation
# library libgraft-emu.so (src/emu/graft_emu.h explains the model). The CUDA backend's tests run the
# backend on it where there is no GPU, so every kernel is exercised and compared with the CPU backend
# on every build.
#
# Usage: build-emu.sh SRC_DIR EMU_DIR OUT_FILE
# Environment: GRAFT_CXX (default g++, then c++). Without a compiler it prints one line and exits 0
# unless GRAFT_EMU_REQUIRED=true. A kernel that does not compile fails the build.
set -euo pipefail

src=${1:?usage: build-emu.sh SRC_DIR EMU_DIR OUT_FILE}
emu=${2:?usage: build-emu.sh SRC_DIR EMU_DIR OUT_FILE}
out=${3:?usage: build-emu.sh SRC_DIR EMU_DIR OUT_FILE}

cxx=${GRAFT_CXX:-}
if [[ -z "$cxx" ]]; then
    for c in g++ c++; do
        if command -v "$c" >/dev/null 2>&1; then cxx=$c; break; fi
    done
fi
if [[ -z "$cxx" ]]; then
    if [[ "${GRAFT_EMU_REQUIRED:-false}" == "true" ]]; then
        echo "graft-kernels: ERROR: no C++ compiler for the kernel emulation (GRAFT_EMU_REQUIRED=true)" >&2
        exit 1
    fi
    echo "graft-kernels: no C++ compiler, skipping the kernel emulation library"
    exit 0
fi

shopt -s nullglob
sources=("$src"/*.cu)
deps=("${sources[@]}" "$src"/*.h "$emu"/*.h "$emu"/*.cpp "$0")
if [[ -f "$out" ]]; then
    stale=0
    for d in "${deps[@]}"; do [[ "$d" -nt "$out" ]] && stale=1; done
    if (( stale == 0 )); then
        echo "graft-kernels: emulation library up to date"
        exit 0
    fi
fi
mkdir -p "$(dirname "$out")"
tmpdir=$(mktemp -d)
trap 'rm -rf "$tmpdir"' EXIT
flags=(-std=c++17 -O2 -fPIC -DGRAFT_EMU -I"$emu" -I"$src" -Wall -Wno-unknown-pragmas -Wno-unused-function -Werror=return-type)
objs=()
for f in "${sources[@]}" "$emu"/graft_emu.cpp; do
    o="$tmpdir/$(basename "$f").o"
    if ! "$cxx" "${flags[@]}" -x c++ -c "$f" -o "$o"; then
        echo "graft-kernels: ERROR: $cxx failed on $f (emulation build)" >&2
        exit 1
    fi
    objs+=("$o")
done
"$cxx" -shared -o "$out.tmp" "${objs[@]}" -lpthread
mv "$out.tmp" "$out"
echo "graft-kernels: emulation library built from ${#sources[@]} kernel source(s) ($cxx)"
