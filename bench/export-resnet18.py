#!/usr/bin/python3
"""Exports a randomly initialised CIFAR ResNet-18 (seed 0) to ONNX for the benchmarks, BatchNorm
kept as its own nodes. Speed does not depend on the weights, and both sides load this same file.

  /usr/bin/python3 bench/export-resnet18.py bench/models/resnet18.onnx
"""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from reference_archs import ResNet  # noqa: E402

torch.manual_seed(0)
model = ResNet([2, 2, 2, 2], [64, 128, 256, 512]).eval()
# Freshly initialised BatchNorm layers all hold the same scale, shift and statistics, and the
# exporter would then de-duplicate them into one shared initializer that bench/torch_ban.py cannot
# load by name. Random values, as after training, keep one initializer per parameter.
with torch.no_grad():
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.1, 0.1)
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
torch.onnx.export(model, torch.randn(1, 3, 32, 32), sys.argv[1], opset_version=13, input_names=["input"], output_names=["logits"],
                  dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
