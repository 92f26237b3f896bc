#!/usr/bin/env python3
"""PyTorch's side of `graft bench`: the same measurement (random 224x224 inputs, a training step with
SGD momentum and every layer trainable, or an eval-mode forward under no_grad; median seconds per step
after warm-up), printed as the same JSON line. Uses Debian's python3-torch / python3-torchvision.

    python3 tools/bench/torch_bench.py --model resnet18 --mode train --batch 16 --threads 2
    python3 tools/bench/torch_bench.py --model resnet50 --mode train --batch 32 --device cuda

On CUDA it keeps PyTorch's defaults (cuDNN on, TF32 for convolutions, full FP32 for matmul,
cudnn.benchmark off) and synchronises before reading the clock, as `graft bench --device cuda` does.
"""
import argparse
import json
import statistics
import time

import torch
import torchvision


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--mode", choices=["train", "infer"], default="train")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    a = p.parse_args()
    dev = torch.device(a.device)
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    net = getattr(torchvision.models, a.model)(num_classes=1000).to(dev)
    x = torch.randn(a.batch, 3, 224, 224).to(dev)
    y = torch.randint(0, 1000, (a.batch,)).to(dev)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    net.train(a.mode == "train")
    times = []
    for i in range(a.warmup + a.iters):
        t0 = time.perf_counter()
        if a.mode == "train":
            loss = torch.nn.functional.cross_entropy(net(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        else:
            with torch.no_grad():
                net(x)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        if i >= a.warmup:
            times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    print(json.dumps({"model": a.model, "mode": a.mode, "batch": a.batch, "images_per_second": a.batch / median,
                      "median_seconds": median, "iters": a.iters, "threads": torch.get_num_threads(),
                      "device": a.device, "engine": "pytorch " + torch.__version__}))


if __name__ == "__main__":
    main()
