#!/usr/bin/env bash
# Graft vs PyTorch on the same machine in one run: images/s of `graft bench` and of
# tools/bench/torch_bench.py for the CPU targets of the speed issue, and their ratio.
#   tools/bench/compare.sh [THREADS] [ITERS] [WARMUP] [ROUNDS]
# Each round runs Graft then PyTorch once per model (each a fresh process: warm-up steps, then the
# median of ITERS timed steps); the table gives the median over rounds of each side and their ratio,
# so a slow moment of a shared machine does not decide a ratio.
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=${1:-2}
iters=${2:-5}
warmup=${3:-3}
rounds=${4:-1}
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for ((r = 1; r <= rounds; r++)); do
    for spec in "resnet18 train" "mobilenet_v2 train" "resnet50 infer" "mobilenet_v2 infer"; do
        set -- $spec
        g=$(./graft bench --model "$1" --mode "$2" --batch 16 --iters "$iters" --warmup "$warmup" --threads "$threads" --json)
        t=$(/usr/bin/python3 tools/bench/torch_bench.py --model "$1" --mode "$2" --batch 16 --iters "$iters" --warmup "$warmup" --threads "$threads")
        echo "$g" >> "$results"
        echo "$t" >> "$results"
    done
done
python3 - "$results" "$rounds" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("%-13s %-5s %5s %12s %12s %7s  %s" % ("model", "mode", "batch", "graft_img_s", "torch_img_s", "ratio", "rounds (graft/torch img/s)"))
keys = []
for r in runs:
    k = (r["model"], r["mode"], r["batch"])
    if k not in keys: keys.append(k)
for k in keys:
    g = [r["images_per_second"] for r in runs if (r["model"], r["mode"], r["batch"]) == k and r.get("engine", "graft") == "graft"]
    t = [r["images_per_second"] for r in runs if (r["model"], r["mode"], r["batch"]) == k and r.get("engine", "").startswith("pytorch")]
    gm, tm = statistics.median(g), statistics.median(t)
    print("%-13s %-5s %5d %12.2f %12.2f %7.2f  %s" % (k[0], k[1], k[2], gm, tm, gm / tm,
          " ".join("%.1f/%.1f" % p for p in zip(g, t))))
PY
