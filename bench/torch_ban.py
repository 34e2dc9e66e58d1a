#!/usr/bin/python3
"""The official BAN detection sequence of passes (ban_detection.py as specified in
shared/research/ban.md §1.3), in Debian's PyTorch, to time it against our scan on the same model
and data. A benchmark oracle only, never a dependency of the product.

What it replays, with the README settings (B=128, P=20, 20 mask epochs, λ=0.75, ε=0.3, S=30):
  mask phase   20 x P steps: train-mode forward of f and g, backward into the mask AND the
               weights (requires_grad is left on), clamp, Adam step
  noise phase  P batches x S steps: δ ~ U(-ε, ε) per batch, train-mode forward with noisy BN,
               backward (weights and noise), sign step of ε/S; no projection
  evaluation   noisy model and negative-mask head on the evaluation images, eval mode

  /usr/bin/python3 bench/torch_ban.py --model zoo/calibration/vgg-badnets-t0/model.onnx --arch vgg-small
  /usr/bin/python3 bench/torch_ban.py --arch resnet18            # random-init CIFAR ResNet-18
Prints one JSON line: seconds per phase, threads, and the negative-mask histogram.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "scripts"))
from reference_archs import ResNet  # noqa: E402

MEAN = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32)
STD = np.array([0.247, 0.2435, 0.2616], dtype=np.float32)


class SmallVgg(nn.Module):
    def __init__(self, widths):
        super().__init__()
        layers, c = [], 3
        for width in widths:
            for _ in range(2):
                layers += [nn.Conv2d(c, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
                c = width
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c, 10)

    def f(self, x):
        return self.features(x)

    def g(self, z):
        return self.classifier(F.adaptive_avg_pool2d(z, 1).flatten(1))


class SplitResNet(ResNet):
    def f(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        for i in range(self.stages):
            out = getattr(self, f"layer{i + 1}")(out)
        return out

    def g(self, z):
        return self.linear(F.adaptive_avg_pool2d(z, 1).flatten(1))


def load_onnx_weights(model, path):
    """torch.onnx.export without constant folding keeps parameter names as initializer names, except
    where it de-duplicates equal tensors: then an Identity node names the copy."""
    import onnx
    from onnx import numpy_helper
    graph = onnx.load(path).graph
    state = {init.name: torch.from_numpy(numpy_helper.to_array(init).copy()) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Identity" and node.input[0] in state:
            state[node.output[0]] = state[node.input[0]]
    missing = model.load_state_dict({k: v for k, v in state.items() if k in model.state_dict()}, strict=False).missing_keys
    if [k for k in missing if not k.endswith("num_batches_tracked")]:
        raise SystemExit(f"{path}: missing weights {missing}")


def add_noise_hooks(model):
    """NoisyBatchNorm2d: weight·(1+δw), bias·(1+δb) when the noise is on."""
    noises = []
    for bn in [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]:
        bn.dw = nn.Parameter(torch.zeros(bn.num_features))
        bn.db = nn.Parameter(torch.zeros(bn.num_features))
        bn.noisy = False

        def forward(x, bn=bn):
            w = bn.weight * (1 + bn.dw) if bn.noisy else bn.weight
            b = bn.bias * (1 + bn.db) if bn.noisy else bn.bias
            return F.batch_norm(x, bn.running_mean, bn.running_var, w, b, bn.training, bn.momentum, bn.eps)
        bn.forward = forward
        noises.append(bn)
    return noises


def augment(x, gen):
    n = x.shape[0]
    pad = torch.from_numpy(-MEAN / STD).view(1, 3, 1, 1).expand(n, 3, 40, 40).clone()
    pad[:, :, 4:36, 4:36] = x
    dy = torch.randint(0, 9, (n,), generator=gen)
    dx = torch.randint(0, 9, (n,), generator=gen)
    out = torch.stack([pad[i, :, dy[i]:dy[i] + 32, dx[i]:dx[i] + 32] for i in range(n)])
    flip = torch.rand(n, generator=gen) < 0.5
    out[flip] = out[flip].flip(3)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--arch", default="vgg-small")
    ap.add_argument("--data", default=os.path.join(HERE, "..", "zoo", "cache"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--mask-epochs", type=int, default=20)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--eval-images", type=int, default=1000)
    ap.add_argument("--batch-size", type=int, default=128)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    if args.arch == "vgg-small":
        model = SmallVgg([16, 32, 64])
    elif args.arch == "resnet8":
        model = SplitResNet([1, 1, 1], [16, 32, 64])
    else:
        model = SplitResNet([2, 2, 2, 2], [64, 128, 256, 512])
    if args.model:
        load_onnx_weights(model, args.model)
    x_all = np.load(os.path.join(args.data, "cifar10-test-x.npy"))
    y_all = np.load(os.path.join(args.data, "cifar10-test-y.npy")).astype(np.int64)
    perm = np.random.default_rng(0).permutation(len(x_all))
    to_t = lambda a: torch.from_numpy(np.ascontiguousarray(((a.astype(np.float32) / 255 - MEAN) / STD).transpose(0, 3, 1, 2)))
    x_opt, y_opt = to_t(x_all[perm[:500]]), torch.from_numpy(y_all[perm[:500]])
    x_eval, y_eval = to_t(x_all[perm[500:500 + args.eval_images]]), torch.from_numpy(y_all[perm[500:500 + args.eval_images]])
    noises = add_noise_hooks(model)
    B, P, S, eps, lam = args.batch_size, args.batches, args.steps, 0.3, 0.75
    timings = {}

    t0 = time.time()
    model.train()
    with torch.no_grad():
        zshape = model.f(x_opt[:2]).shape[1:]
    mask = nn.Parameter(torch.rand(zshape))
    opt = torch.optim.Adam([mask], lr=0.01)
    for _ in range(args.mask_epochs):
        for _ in range(P):
            idx = torch.randint(0, len(x_opt), (B,), generator=gen)
            xb, yb = augment(x_opt[idx], gen), y_opt[idx]
            z = model.f(xb)
            loss = F.cross_entropy(model.g(mask * z), yb) - F.cross_entropy(model.g((1 - mask) * z), yb) + lam * mask.abs().sum() / mask.abs().sum().item()
            mask.data = torch.clamp(mask.data, 0, 1)
            opt.zero_grad()
            model.zero_grad()
            loss.backward()
            opt.step()
    timings["mask"] = time.time() - t0

    t0 = time.time()
    for _ in range(P):
        idx = torch.randint(0, len(x_opt), (B,), generator=gen)
        xb, yb = augment(x_opt[idx], gen), y_opt[idx]
        for bn in noises:
            bn.dw.data.uniform_(-eps, eps)
            bn.db.data.uniform_(-eps, eps)
            bn.noisy = True
        for _ in range(S):
            model.zero_grad()
            loss = -F.cross_entropy(model.g(model.f(xb)), yb)
            loss.backward()
            with torch.no_grad():
                for bn in noises:
                    bn.dw -= (eps / S) * bn.dw.grad.sign()
                    bn.db -= (eps / S) * bn.db.grad.sign()
    timings["noise"] = time.time() - t0

    t0 = time.time()
    model.eval()
    hist = np.zeros(10, dtype=int)
    with torch.no_grad():
        for i in range(0, len(x_eval), 256):
            z = model.f(x_eval[i:i + 256])
            model.g(z).argmax(1)
            hist += np.bincount(model.g((1 - mask) * z).argmax(1).numpy(), minlength=10)
    timings["evaluate"] = time.time() - t0
    print(json.dumps({"arch": args.arch, "model": args.model, "threads": args.threads, "torch": torch.__version__, "seconds": timings,
                      "total": sum(timings.values()), "negativeMaskHistogram": hist.tolist()}), flush=True)


if __name__ == "__main__":
    main()
