#!/usr/bin/env bash
# Compiles kernels/src/main/cuda/*.cu to PTX, one file per kernel source and architecture:
#   <out>/<name>.sm_80.ptx, <out>/<name>.sm_90.ptx
# and assembles each PTX with ptxas into <out>/<name>.sm_XX.cubin, so a kernel that does not assemble
# fails the build here rather than at load time on a GPU. The CUDA backend loads the cubin on a GPU
# of exactly that architecture family (no JIT at start-up, and it runs on drivers older than this
# nvcc's PTX ISA) and JIT-compiles the PTX on other, newer GPUs.
#
# Usage: build-ptx.sh SRC_DIR OUT_DIR [ARCHS]   (ARCHS: space-separated, default "80 90")
# Environment:
#   GRAFT_NVCC          nvcc to use (default: nvcc on PATH, then $CUDA_HOME/bin, /usr/local/cuda/bin)
#   GRAFT_PTX_REQUIRED  "true": a missing nvcc is an error instead of a skip
#
# Without nvcc it prints one line and exits 0: the CPU build needs no CUDA toolkit. A kernel that
# fails to compile always fails the build. Up-to-date PTX (newer than its .cu and this script) is
# not rebuilt, so repeated builds cost nothing.
set -euo pipefail

src=${1:?usage: build-ptx.sh SRC_DIR OUT_DIR [ARCHS]}
out=${2:?usage: build-ptx.sh SRC_DIR OUT_DIR [ARCHS]}
archs=${3:-80 90}
required=${GRAFT_PTX_REQUIRED:-false}

find_nvcc() {
    if [[ -n "${GRAFT_NVCC:-}" ]]; then echo "$GRAFT_NVCC"; return; fi
    if command -v nvcc >/dev/null 2>&1; then command -v nvcc; return; fi
    local d
    for d in "${CUDA_HOME:-}" "${CUDA_PATH:-}" /usr/local/cuda; do
        if [[ -n "$d" && -x "$d/bin/nvcc" ]]; then echo "$d/bin/nvcc"; return; fi
    done
}

nvcc=$(find_nvcc || true)
if [[ -z "$nvcc" ]] || ! command -v "$nvcc" >/dev/null 2>&1; then
    if [[ "$required" == "true" ]]; then
        echo "graft-kernels: ERROR: nvcc not found (GRAFT_PTX_REQUIRED=true); set GRAFT_NVCC or put nvcc on PATH" >&2
        exit 1
    fi
    echo "graft-kernels: nvcc not found, skipping PTX (the CPU backend does not need it)"
    exit 0
fi

if ! "$nvcc" --version >/dev/null 2>&1; then
    echo "graft-kernels: ERROR: $nvcc does not run" >&2
    exit 1
fi
# ptxas sits beside the real nvcc; nvcc on PATH may be a wrapper script, so ask nvcc where it lives.
here=$("$nvcc" --dryrun --ptx -x cu /dev/null -o /dev/null 2>&1 | sed -n 's/^#\$ _HERE_=//p' | head -n1 || true)
ptxas=""
for cand in "$here/ptxas" "$(dirname "$nvcc")/ptxas" "$(command -v ptxas 2>/dev/null || true)"; do
    if [[ -n "$cand" && -x "$cand" ]]; then ptxas=$cand; break; fi
done

shopt -s nullglob
sources=("$src"/*.cu)
if (( ${#sources[@]} == 0 )); then
    echo "graft-kernels: no .cu files in $src"
    exit 0
fi
mkdir -p "$out"
version=$("$nvcc" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p' | head -n1)

built=0
for cu in "${sources[@]}"; do
    name=$(basename "$cu" .cu)
    for arch in $archs; do
        ptx="$out/$name.sm_$arch.ptx"
        cubin="$out/$name.sm_$arch.cubin"
        if [[ -f "$ptx" && "$ptx" -nt "$cu" && "$ptx" -nt "$0" && ( -z "$ptxas" || -f "$cubin" ) ]]; then
            fresh=1
            for h in "$src"/*.h; do [[ "$h" -nt "$ptx" ]] && fresh=0; done
            (( fresh == 1 )) && continue
        fi
        tmp="$ptx.tmp"
        if ! "$nvcc" --ptx -std=c++17 -O3 -lineinfo -I"$src" -arch="compute_$arch" -o "$tmp" "$cu"; then
            rm -f "$tmp"
            echo "graft-kernels: ERROR: nvcc failed on $cu for sm_$arch" >&2
            exit 1
        fi
        if [[ -n "$ptxas" ]]; then
            if ! "$ptxas" -arch="sm_$arch" -o "$cubin.tmp" "$tmp"; then
                rm -f "$tmp" "$cubin.tmp"
                echo "graft-kernels: ERROR: ptxas rejected the PTX of $cu for sm_$arch" >&2
                exit 1
            fi
        fi
        [[ -f "$cubin.tmp" ]] && mv "$cubin.tmp" "$cubin"
        mv "$tmp" "$ptx"
        built=$((built + 1))
    done
done

# What produced the PTX: the CUDA backend reads this to explain a driver that is too old.
{
    echo "nvcc.version=$version"
    echo "archs=$archs"
    [[ -n "$ptxas" ]] && echo "cubins=true"
    echo "kernels=$(for cu in "${sources[@]}"; do basename "$cu" .cu; done | tr '\n' ' ' | sed 's/ $//')"
} > "$out/ptx.properties"

checked="checked by ptxas"
[[ -n "$ptxas" ]] || checked="ptxas not found: unchecked"
echo "graft-kernels: $built PTX file(s) built; ${#sources[@]} source(s) x sm_{${archs// /,}} up to date (nvcc $version, $checked)"
