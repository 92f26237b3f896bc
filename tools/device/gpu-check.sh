#!/usr/bin/env bash
# The GPU check, run on a lent GPU machine after tools/device/stage.sh (docs/GPU.md): the machine's
# CUDA inventory, graft doctor, the CUDA backend's tests on the real GPU, ResNet-50 training speed of
# Graft and PyTorch on the same GPU, and the JMH kernel benchmarks (Graft's GEMM/convolution kernels vs
# cuBLAS/cuDNN). Each step has its own time limit and writes $OUT/<step>.txt; the whole check stays
# under 9 minutes so one `run` (timeout_s 560) holds it.
set -uo pipefail
out=${OUT:-/tmp/gpu-check}
mkdir -p "$out"
x=.device/extra
# The staged runtime (as ../shared/device/java.sh, which stops when one of its search folders is missing).
[[ -x .device/jre/bin/java ]] || tar -C .device -xJf .device/jre.tar.xz
libdirs=$( (find /usr/local/cuda*/ /usr/local/nvidia /opt /usr/lib/x86_64-linux-gnu /usr/lib64 -maxdepth 9 \
    \( -name 'libcublas.so*' -o -name 'libcudnn.so*' -o -name 'libcuda.so*' \) -printf '%h\n' 2>/dev/null || true) \
    | sort -u | paste -sd: -)
export LD_LIBRARY_PATH="${libdirs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
java_=(.device/jre/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED)

step() {  # step NAME SECONDS COMMAND...
    local name=$1 limit=$2
    shift 2
    local t0=$SECONDS
    echo "== $name (limit ${limit}s)"
    timeout "$limit" "$@" >"$out/$name.txt" 2>&1
    local rc=$?
    echo "rc=$rc seconds=$((SECONDS - t0))" >>"$out/$name.txt"
    tail -n 25 "$out/$name.txt"
}

step probe 40 bash .device/probe.sh
step doctor 40 "${java_[@]}" -jar "$x/graft.jar" doctor
step tests 170 "${java_[@]}" -Dgraft.cuda.test.emulation=false -jar "$x/junit-platform-console-standalone.jar" execute \
    --class-path "$x/graft.jar:$x/engine-tests.jar:$x/assertj-core.jar" $(sed 's/^/--select-class /' "$x/cuda-tests.txt") \
    --details=tree --disable-banner --disable-ansi-colors
step bench-graft 90 "${java_[@]}" -jar "$x/graft.jar" bench --device cuda --model resnet50 --mode train --batch 32 --warmup 3 --iters 10 --json
step bench-torch 90 python3 "$x/torch_bench.py" --model resnet50 --mode train --batch 32 --warmup 3 --iters 10 --device cuda
step jmh 120 "${java_[@]}" -jar "$x/benchmarks.jar" CudaKernelBenchmark -p shape=gemm4096,r50_layer1_3x3 \
    -f 1 -wi 1 -i 3 -w 500ms -r 500ms -rf json -rff "$out/jmh.json"
