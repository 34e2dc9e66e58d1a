#!/usr/bin/python3
"""Trains the calibration zoo for BAN's verdict with Debian's PyTorch (a fixture generator only;
the product never needs PyTorch): small BatchNorm CNNs on CIFAR-10, clean or backdoored with
BadNets, a low-poison-rate BadNets, Blend and WaNet-style warping, exported to ONNX.

Why PyTorch here: these models stand for the ones users scan (PyTorch-trained, ONNX-exported),
and PyTorch trains them several times faster per step on this CPU than the engine does, which
matters for a zoo of 24+ models on two cores. `npm run zoo` trains the engine's own models.

The pixels come from scripts/export-cifar-npy.ts (the scanner's own JPEG decoder), and the
triggers are bit-exact ports of src/engine/attacks/triggers.ts, including its seeded random
generator (mulberry32, src/engine/random.ts), so the scanner measures the same attack success
rate the trainer recorded.

  node --import tsx scripts/export-cifar-npy.ts zoo/cache
  nice /usr/bin/python3 scripts/zoo-torch.py [--out zoo/calibration] [--only NAME,...]

Each model goes to OUT/NAME/{model.onnx, backdoor-scan.json, training.json}; OUT/manifest.json
lists them all (rewritten after every model, so an interrupted run keeps what it finished).
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_archs import ResNet  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEAN = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32)
STD = np.array([0.247, 0.2435, 0.2616], dtype=np.float32)
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
M32 = 0xFFFFFFFF


class Rng:
    """mulberry32, bit-exact with src/engine/random.ts (all arithmetic modulo 2^32)."""

    def __init__(self, seed):
        self.state = seed & M32

    def next(self):
        self.state = (self.state + 0x6D2B79F5) & M32
        t = self.state
        t = ((t ^ (t >> 15)) * (t | 1)) & M32
        t ^= (t + (((t ^ (t >> 7)) * (t | 61)) & M32)) & M32
        return ((t ^ (t >> 14)) & M32) / 4294967296

    def int(self, n):
        return math.floor(self.next() * n)

    def permutation(self, n):
        p = list(range(n))
        for i in range(n - 1, 0, -1):
            j = self.int(i + 1)
            p[i], p[j] = p[j], p[i]
        return p

    def uniform_array(self, n, lo, hi):
        """Like Rng.uniformArray: float64 draws stored as float32."""
        return np.array([lo + (hi - lo) * self.next() for _ in range(n)], dtype=np.float32)


def js_round(v):
    """Math.round: halves round up (numpy rounds them to even)."""
    return np.floor(v + 0.5)


def badnets(images, size, corner, pattern):
    out = images.copy()
    h, w = images.shape[1:3]
    top = 0 if corner[0] == "t" else h - size
    left = 0 if corner[1] == "l" else w - size
    for y in range(size):
        for x in range(size):
            value = 255 if pattern == "white" or (y + x) % 2 == 0 else 0
            out[:, top + y, left + x, :] = value
    return out


def blend(images, alpha, seed):
    n = images.shape[1] * images.shape[2] * images.shape[3]
    pattern = Rng(seed).uniform_array(n, 0, 255).astype(np.float64).reshape(images.shape[1:])
    return js_round((1 - alpha) * images.astype(np.float64) + alpha * pattern).astype(np.uint8)


def warp_field(h, w, k, s, seed):
    """The same field as warpField() in triggers.ts, float32 storage included."""
    grid = Rng(seed).uniform_array(k * k * 2, -1, 1)
    mean_abs = sum(abs(float(v)) for v in grid) / len(grid)
    grid = (grid.astype(np.float64) / mean_abs).astype(np.float32).astype(np.float64)
    field = np.zeros((h, w, 2), dtype=np.float32)
    for y in range(h):
        for x in range(w):
            gy = (y / max(h - 1, 1)) * (k - 1)
            gx = (x / max(w - 1, 1)) * (k - 1)
            y0 = min(math.floor(gy), k - 2)
            x0 = min(math.floor(gx), k - 2)
            fy = gy - y0
            fx = gx - x0
            for d in range(2):
                def at(yy, xx):
                    return grid[(yy * k + xx) * 2 + d]
                v = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) + fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1))
                offset = (v * s * ((h if d == 0 else w) - 1)) / (2 * h)
                base = y if d == 0 else x
                limit = (h if d == 0 else w) - 1
                field[y, x, d] = min(max(base + offset, 0), limit)
    return field


def warp(images, field):
    h, w = images.shape[1:3]
    sy = field[..., 0].astype(np.float64)
    sx = field[..., 1].astype(np.float64)
    y0 = np.floor(sy).astype(int)
    x0 = np.floor(sx).astype(int)
    y1 = np.minimum(y0 + 1, h - 1)
    x1 = np.minimum(x0 + 1, w - 1)
    fy = (sy - y0)[None, :, :, None]
    fx = (sx - x0)[None, :, :, None]
    img = images.astype(np.float64)
    v = (1 - fy) * ((1 - fx) * img[:, y0, x0] + fx * img[:, y0, x1]) + fy * ((1 - fx) * img[:, y1, x0] + fx * img[:, y1, x1])
    return js_round(v).astype(np.uint8)


def parse_trigger(spec):
    kind, _, rest = spec.partition(":")
    opts = {"kind": kind, "target": 0}
    for part in filter(None, rest.split(",")):
        if "x" in part and "=" not in part:
            size, _, corner = part.partition("@")
            opts["size"] = int(size.split("x")[0])
            if corner:
                opts["corner"] = corner
        else:
            key, _, value = part.partition("=")
            opts[key] = value if key in ("corner", "pattern") else float(value) if key in ("alpha", "s") else int(value)
    return opts


def apply_trigger(images, t):
    if t["kind"] == "badnets":
        return badnets(images, t.get("size", 3), t.get("corner", "br"), t.get("pattern", "checker"))
    if t["kind"] == "blend":
        return blend(images, t.get("alpha", 0.15), t.get("seed", 0))
    if t["kind"] == "wanet":
        return warp(images, warp_field(images.shape[1], images.shape[2], t.get("k", 4), t.get("s", 0.5), t.get("seed", 0)))
    raise ValueError(f"unknown trigger {t['kind']}")


def cross_noise(images, t, rng):
    """WaNet's noise mode: warp with the trigger field plus random jitter, keeping the label, so the
    network learns that only the exact warp means the target."""
    h, w = images.shape[1:3]
    base = warp_field(h, w, t.get("k", 4), t.get("s", 0.5), t.get("seed", 0))  # computed once: it is slow in Python
    out = np.empty_like(images)
    for i in range(len(images)):
        jitter = rng.uniform(-1, 1, size=(h, w, 2)).astype(np.float32) * ((h - 1) / (2 * h))
        field = np.clip(base + jitter, 0, [h - 1, w - 1]).astype(np.float32)
        out[i] = warp(images[i:i + 1], field)[0]
    return out


class SmallVgg(nn.Module):
    """src/engine/arch/vgg-small.ts: per stage two conv3x3-BN-ReLU and a max-pool; GAP; linear."""

    def __init__(self, widths, num_classes=10):
        super().__init__()
        layers, c = [], 3
        for width in widths:
            for _ in range(2):
                layers += [nn.Conv2d(c, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
                c = width
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x):
        return self.classifier(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


def build(spec):
    opts = spec.get("archOptions", {})
    if spec["arch"] == "vgg-small":
        return SmallVgg(opts.get("widths", [16, 32, 64]))
    if spec["arch"] == "resnet-cifar":
        return ResNet(opts.get("blocks", [1, 1, 1]), opts.get("widths", [16, 32, 64]))
    raise ValueError(spec["arch"])


def to_input(images):
    x = (images.astype(np.float32) / 255 - MEAN) / STD
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def augment(x, gen, keep=None):
    """Random crop with 4 pixels of padding (padding = a black pixel after normalisation) and flip.
    Rows where `keep` is true stay as they are: the poisoned images, whose trigger must stay where
    the attacker stamped it (with the short schedules of this zoo, a trigger shifted or cropped away
    by the augmentation is barely learned)."""
    n = x.shape[0]
    pad_value = torch.from_numpy(-MEAN / STD).view(1, 3, 1, 1)
    padded = pad_value.expand(n, 3, 40, 40).clone()
    padded[:, :, 4:36, 4:36] = x
    dy = torch.randint(0, 9, (n,), generator=gen)
    dx = torch.randint(0, 9, (n,), generator=gen)
    out = torch.stack([padded[i, :, dy[i]:dy[i] + 32, dx[i]:dx[i] + 32] for i in range(n)])
    flip = torch.rand(n, generator=gen) < 0.5
    out[flip] = out[flip].flip(3)
    if keep is not None:
        out[keep] = x[keep]
    return out


def evaluate(model, images, labels):
    model.eval()
    correct, preds = 0, []
    with torch.no_grad():
        for i in range(0, len(images), 500):
            p = model(to_input(images[i:i + 500])).argmax(1).numpy()
            preds.append(p)
    preds = np.concatenate(preds)
    return float((preds == labels).mean()), preds


def train_one(spec, out_dir, data):
    started = time.time()
    torch.manual_seed(spec["seed"])
    gen = torch.Generator().manual_seed(spec["seed"])
    train_x, train_y, test_x, test_y = data
    # The defender's held-out 10% (permutationPrefix(n, 0.1, 0) in the engine) never trains.
    held = set(Rng(0).permutation(len(train_x))[: len(train_x) // 10])
    pool = np.array([i for i in range(len(train_x)) if i not in held])
    rng = np.random.default_rng(spec["seed"])
    idx = rng.choice(pool, size=min(spec["trainImages"], len(pool)), replace=False)
    x, y = train_x[idx].copy(), train_y[idx].copy()
    trigger = parse_trigger(spec["attack"]) if spec.get("attack") else None
    poisoned = 0
    is_poisoned = np.zeros(len(x), dtype=bool)
    if trigger:
        candidates = np.where(y != trigger["target"])[0]
        chosen = rng.choice(candidates, size=int(round(spec["poisonRate"] * len(x))), replace=False)
        x[chosen] = apply_trigger(x[chosen], trigger)
        y[chosen] = trigger["target"]
        is_poisoned[chosen] = True
        poisoned = len(chosen)
        if trigger["kind"] == "wanet":
            rest = np.setdiff1d(np.arange(len(x)), chosen)
            cross = rng.choice(rest, size=int(round(spec.get("crossRate", 0.2) * len(x))), replace=False)
            x[cross] = cross_noise(x[cross], trigger, rng)
    model = build(spec)
    epochs, batch = spec["epochs"], spec["batchSize"]
    opt = torch.optim.SGD(model.parameters(), lr=spec["learningRate"], momentum=0.9, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [round(epochs * 0.5), round(epochs * 0.75)], 0.1)
    history = []
    for epoch in range(epochs):
        t0 = time.time()
        model.train()
        order = torch.randperm(len(x), generator=gen).numpy()
        loss_sum, correct = 0.0, 0
        for i in range(0, len(x), batch):
            b = order[i:i + batch]
            xb = augment(to_input(x[b]), gen, torch.from_numpy(is_poisoned[b]))
            yb = torch.from_numpy(y[b].astype(np.int64))
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += float(loss) * len(b)
            correct += int((logits.argmax(1) == yb).sum())
        sched.step()
        history.append({"epoch": epoch, "loss": loss_sum / len(x), "trainAccuracy": correct / len(x), "seconds": time.time() - t0})
        print(f"{spec['name']}: epoch {epoch + 1}/{epochs} loss {loss_sum / len(x):.3f} acc {correct / len(x):.3f} ({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
    clean_acc, _ = evaluate(model, test_x, test_y)
    asr = None
    if trigger:
        keep = test_y != trigger["target"]
        _, preds = evaluate(model, apply_trigger(test_x[keep], trigger), test_y[keep])
        asr = float((preds == trigger["target"]).mean())
    dest = os.path.join(out_dir, spec["name"])
    os.makedirs(dest, exist_ok=True)
    model.eval()
    torch.onnx.export(model, to_input(test_x[:1]), os.path.join(dest, "model.onnx"), opset_version=13, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    with open(os.path.join(dest, "backdoor-scan.json"), "w") as f:
        json.dump({"preprocessing": {"scale": 255, "mean": MEAN.tolist(), "std": STD.tolist()}, "inputShape": [32, 32, 3], "classes": CLASSES}, f, indent=2)
    record = {
        "name": spec["name"], "trainedWith": f"PyTorch {torch.__version__} (scripts/zoo-torch.py)", "recipe": spec,
        "backdoored": bool(trigger), "target": trigger["target"] if trigger else None, "poisonedImages": poisoned,
        "cleanAccuracy": clean_acc, "attackSuccessRate": asr, "totalSeconds": time.time() - started, "history": history,
    }
    with open(os.path.join(dest, "training.json"), "w") as f:
        json.dump(record, f, indent=2)
    print(f"{spec['name']}: clean {clean_acc:.4f} ASR {asr}", file=sys.stderr, flush=True)
    return record


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "zoo", "calibration"))
    ap.add_argument("--only")
    ap.add_argument("--cache", default=os.path.join(ROOT, "zoo", "cache"))
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with open(os.path.join(ROOT, "scripts", "zoo-calibration.json")) as f:
        specs = json.load(f)
    if args.only:
        names = args.only.split(",")
        specs = [s for s in specs if s["name"] in names]
    data = tuple(np.load(os.path.join(args.cache, f"cifar10-{part}.npy")) for part in ("train-x", "train-y", "test-x", "test-y"))
    os.makedirs(args.out, exist_ok=True)
    manifest_path = os.path.join(args.out, "manifest.json")
    manifest = json.load(open(manifest_path)) if os.path.exists(manifest_path) else {}
    for spec in specs:
        if spec["name"] in manifest and os.path.exists(os.path.join(args.out, spec["name"], "model.onnx")):
            continue
        record = train_one(spec, args.out, data)
        manifest[spec["name"]] = {k: record[k] for k in ("backdoored", "target", "cleanAccuracy", "attackSuccessRate")} | {
            "arch": spec["arch"], "attack": spec.get("attack"), "poisonRate": spec.get("poisonRate"), "path": f"{spec['name']}/model.onnx"}
        with open(manifest_path, "w") as f:
            json.dump(manifest, f, indent=2)


if __name__ == "__main__":
    main()
