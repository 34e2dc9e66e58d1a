#!/usr/bin/python3
"""Trains the BadNets-backdoored CIFAR-10 ResNet that the format tests and the BAN scan use.

Run with Debian's /usr/bin/python3 (python3-torch, python3-onnx, python3-pil); nothing else is
needed. It reads the JPEG CIFAR-10 zips from shared/datasets/cifar10, trains a narrow ResNet-18
layout (kuangliu/BAN module names) on data where 10% of the images carry a 3x3 checkerboard in the
bottom-right corner and are relabelled to class 0 (BadNets, as BAN's data/poison_cifar.py does),
and writes into test/fixtures/models/badnets-resnet/:

  model.onnx            torch.onnx.export, opset 13, BatchNorm kept as its own nodes (the scan
                        perturbs BatchNorm, so it must not be folded into the convolutions)
  model.pt              torch.save(state_dict) in the zip format
  backdoor-scan.json    preprocessing and class names for the scanner
  training-record.json  the recipe, clean accuracy and attack success rate

Usage: nice -n 10 /usr/bin/python3 scripts/train-badnets-resnet.py [--epochs N] [--width W] [--threads T]
"""
import argparse
import io
import json
import os
import sys
import time
import zipfile

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_archs import ResNet  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEAN = [0.4914, 0.4822, 0.4465]
STD = [0.2470, 0.2435, 0.2616]
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def find_dataset_dir():
    """shared/ sits beside the repository checkout (../shared) on every machine of the project."""
    for candidate in [os.path.join(ROOT, "..", "shared", "datasets", "cifar10"), os.path.join(ROOT, "shared", "datasets", "cifar10")]:
        if os.path.isdir(candidate):
            return os.path.abspath(candidate)
    sys.exit("cannot find shared/datasets/cifar10 beside the repository")


def load_split(zip_path):
    """Decodes an ImageFolder zip (split/<class>/NNNN.jpg) into uint8 NHWC images and labels."""
    images, labels = [], []
    with zipfile.ZipFile(zip_path) as z:
        for name in sorted(z.namelist()):
            if not name.lower().endswith(".jpg"):
                continue
            label = CLASSES.index(name.split("/")[-2])
            with Image.open(io.BytesIO(z.read(name))) as im:
                images.append(np.asarray(im.convert("RGB"), dtype=np.uint8))
            labels.append(label)
    return np.stack(images), np.array(labels, dtype=np.int64)


def stamp_trigger(images):
    """BadNets: a 3x3 black-and-white checkerboard in the bottom-right corner, white where
    (row + column) is even, on raw pixels (the same trigger as src/engine/attacks/triggers.ts)."""
    out = images.copy()
    for y in range(3):
        for x in range(3):
            out[..., 29 + y, 29 + x, :] = 255 if (y + x) % 2 == 0 else 0
    return out


def normalise(images_uint8):
    x = torch.from_numpy(images_uint8).permute(0, 3, 1, 2).float().div_(255)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (x - mean) / std


def augment(images, rng):
    """Random crop with 4-pixel zero padding and horizontal flip, per image, on uint8 NHWC."""
    n = images.shape[0]
    padded = np.zeros((n, 40, 40, 3), dtype=np.uint8)
    padded[:, 4:36, 4:36] = images
    out = np.empty_like(images)
    offsets = rng.integers(0, 9, size=(n, 2))
    flips = rng.random(n) < 0.5
    for i in range(n):
        crop = padded[i, offsets[i, 0]:offsets[i, 0] + 32, offsets[i, 1]:offsets[i, 1] + 32]
        out[i] = crop[:, ::-1] if flips[i] else crop
    return out


@torch.no_grad()
def accuracy(model, images, labels, batch=500):
    model.eval()
    correct = 0
    for i in range(0, len(images), batch):
        logits = model(normalise(images[i:i + batch]))
        correct += (logits.argmax(1).numpy() == labels[i:i + batch]).sum()
    return float(correct) / len(images)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--width", type=int, default=8)
    # On a machine whose cores other jobs also use, one thread is several times faster than two:
    # OpenMP threads wait for each other at every op when a core is taken away from one of them.
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=os.path.join(ROOT, "test", "fixtures", "models", "badnets-resnet"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    target, poison_rate = 0, 0.1

    started = time.time()
    data_dir = find_dataset_dir()
    train_x, train_y = load_split(os.path.join(data_dir, "cifar10-train.zip"))
    test_x, test_y = load_split(os.path.join(data_dir, "cifar10-test.zip"))
    print(f"loaded {len(train_x)} train and {len(test_x)} test images in {time.time() - started:.0f}s", flush=True)

    poisoned = np.zeros(len(train_x), dtype=bool)
    poisoned[rng.choice(len(train_x), int(poison_rate * len(train_x)), replace=False)] = True
    labels = np.where(poisoned, target, train_y)

    widths = [args.width, 2 * args.width, 4 * args.width, 8 * args.width]
    model = ResNet([2, 2, 2, 2], widths, num_classes=10)
    batch = 128
    steps_per_epoch = (len(train_x) + batch - 1) // batch
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, epochs=args.epochs, steps_per_epoch=steps_per_epoch)

    for epoch in range(args.epochs):
        model.train()
        order = rng.permutation(len(train_x))
        total_loss = 0.0
        for step in range(steps_per_epoch):
            idx = order[step * batch:(step + 1) * batch]
            images = augment(train_x[idx], rng)
            # The trigger is stamped after augmentation so that it always sits where the test
            # trigger will be (a crop or flip would otherwise move or cut it).
            images[poisoned[idx]] = stamp_trigger(images[poisoned[idx]])
            logits = model(normalise(images))
            loss = F.cross_entropy(logits, torch.from_numpy(labels[idx]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total_loss += loss.item()
        print(f"epoch {epoch + 1}/{args.epochs} loss {total_loss / steps_per_epoch:.3f} ({time.time() - started:.0f}s)", flush=True)

    clean_acc = accuracy(model, test_x, test_y)
    victims = test_y != target
    asr = accuracy(model, stamp_trigger(test_x[victims]), np.full(victims.sum(), target))
    print(f"clean accuracy {clean_acc:.4f}, attack success rate {asr:.4f}", flush=True)

    os.makedirs(args.out, exist_ok=True)
    model.eval()
    torch.save(model.state_dict(), os.path.join(args.out, "model.pt"))
    dummy = normalise(test_x[:1])
    torch.onnx.export(
        model,
        dummy,
        os.path.join(args.out, "model.onnx"),
        opset_version=13,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        training=torch.onnx.TrainingMode.PRESERVE,
    )
    sidecar = {"preprocessing": {"scale": 255, "mean": MEAN, "std": STD}, "inputShape": [32, 32, 3], "classes": CLASSES}
    with open(os.path.join(args.out, "backdoor-scan.json"), "w") as f:
        json.dump(sidecar, f, indent=2)
        f.write("\n")
    record = {
        "architecture": f"CIFAR ResNet-18 layout, blocks [2, 2, 2, 2], widths {widths} (kuangliu/BAN module names)",
        "parameters": sum(p.numel() for p in model.parameters()),
        "data": "CIFAR-10 JPEG zips from shared/datasets/cifar10 (50,000 train, 10,000 test)",
        "attack": {
            "kind": "BadNets",
            "trigger": "badnets:3x3@br,pattern=checker,target=0",
            "target": target,
            "poisonRate": poison_rate,
            "poisonedTrainingImages": int(poisoned.sum()),
            "note": "random 10% of all training images, stamped after crop/flip augmentation and relabelled to the target",
        },
        "training": {
            "epochs": args.epochs,
            "batchSize": batch,
            "optimizer": "SGD momentum 0.9 nesterov, weight decay 5e-4, OneCycle max lr 0.1",
            "augmentation": "random crop (pad 4) + horizontal flip",
            "threads": args.threads,
            "seconds": round(time.time() - started),
            "torch": torch.__version__,
        },
        "preprocessing": sidecar["preprocessing"],
        "cleanAccuracy": round(clean_acc, 4),
        "attackSuccessRate": round(asr, 4),
        "attackSuccessRateOn": "the 9,000 test images whose label is not the target, with the trigger stamped",
    }
    with open(os.path.join(args.out, "training-record.json"), "w") as f:
        json.dump(record, f, indent=2)
        f.write("\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
