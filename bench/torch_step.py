#!/usr/bin/python3
"""The same steps as bench/step.ts in PyTorch (Debian python3-torch; a benchmark oracle, never a
dependency): forward, forward + backward w.r.t. all weights (train-mode BatchNorm), forward +
backward w.r.t. the input only (eval mode), for a CIFAR ResNet-18. One JSON line per batch size.

  /usr/bin/python3 bench/torch_step.py [--batch 32,128] [--steps 3] [--threads 1] [--model resnet18|small]
"""
import argparse
import json
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from reference_archs import ResNet  # noqa: E402


def small():
    import torch.nn as nn
    layers, c = [], 3
    for width in (32, 64):
        for _ in range(2):
            layers += [nn.Conv2d(c, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
            c = width
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10))


def median_ms(steps, fn):
    fn()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return sorted(times)[len(times) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", default="32,128")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--model", default="resnet18")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = small() if args.model == "small" else ResNet([2, 2, 2, 2], [64, 128, 256, 512])
    for batch in map(int, args.batch.split(",")):
        x = torch.randn(batch, 3, 32, 32)
        y = torch.arange(batch) % 10

        def fwd():
            model.eval()
            with torch.no_grad():
                model(x)

        def fwd_bwd():
            model.train()
            model.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()

        def x_grad():
            model.eval()
            xi = x.clone().requires_grad_(True)
            for p in model.parameters():
                p.requires_grad_(False)
            F.cross_entropy(model(xi), y).backward()
            for p in model.parameters():
                p.requires_grad_(True)

        print(json.dumps({
            "model": args.model, "batch": batch, "backend": f"pytorch {torch.__version__} cpu", "threads": args.threads,
            "fwdMs": median_ms(args.steps, fwd), "fwdBwdMs": median_ms(args.steps, fwd_bwd), "xGradMs": median_ms(args.steps, x_grad),
            "peakRssMb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        }), flush=True)


if __name__ == "__main__":
    main()
