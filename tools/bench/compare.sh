#!/usr/bin/env bash
# Graft vs PyTorch on the same machine in one run: images/s of `graft bench` and of
# tools/bench/torch_bench.py for the CPU targets of the speed issue, and their ratio.
#   tools/bench/compare.sh [THREADS] [ITERS] [WARMUP]
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=${1:-2}
iters=${2:-5}
warmup=${3:-3}
printf "%-13s %-5s %5s %12s %12s %7s\n" model mode batch graft_img_s torch_img_s ratio
for spec in "resnet18 train" "mobilenet_v2 train" "resnet50 infer" "mobilenet_v2 infer"; do
    set -- $spec
    g=$(./graft bench --model "$1" --mode "$2" --batch 16 --iters "$iters" --warmup "$warmup" --threads "$threads" --json)
    t=$(/usr/bin/python3 tools/bench/torch_bench.py --model "$1" --mode "$2" --batch 16 --iters "$iters" --warmup "$warmup" --threads "$threads")
    python3 - "$g" "$t" <<'PY'
import json, sys
g, t = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print("%-13s %-5s %5d %12.2f %12.2f %7.2f" % (g["model"], g["mode"], g["batch"], g["images_per_second"], t["images_per_second"],
      g["images_per_second"] / t["images_per_second"]))
PY
done
