"""PyTorch definitions of the built-in architectures of src/engine/arch, written for the fixture
scripts (make-format-fixtures.py, train-badnets-resnet.py).

The module names and layer order follow the CIFAR models that backdoor research code trains
(kuangliu's pytorch-cifar layout, as used by BAN and BackdoorBench): their state_dict keys are
exactly the keys the TypeScript loader maps onto its IR builders. Every class takes its widths as
arguments so that the fixtures can be small.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    """Post-activation residual block with a 1x1 conv + BN shortcut where the shape changes."""

    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """CIFAR ResNet: 3x3 stem, one stage per width (the first at stride 1), global pooling, linear."""

    def __init__(self, blocks, widths, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        in_planes = widths[0]
        self.stages = len(blocks)
        for i, (count, width) in enumerate(zip(blocks, widths)):
            layers = []
            for j in range(count):
                layers.append(BasicBlock(in_planes, width, 2 if i > 0 and j == 0 else 1))
                in_planes = width
            setattr(self, f"layer{i + 1}", nn.Sequential(*layers))
        self.linear = nn.Linear(in_planes, num_classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        for i in range(self.stages):
            out = getattr(self, f"layer{i + 1}")(out)
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


class PreActBlock(nn.Module):
    """Pre-activation block; the shortcut conv (no BN) reads the pre-activated input."""

    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False))

    def forward(self, x):
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if hasattr(self, "shortcut") else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class PreActResNet(nn.Module):
    """PreAct-ResNet as BackdoorBench trains it: no BN after the stem or after the last block."""

    def __init__(self, blocks, widths, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        in_planes = widths[0]
        self.stages = len(blocks)
        for i, (count, width) in enumerate(zip(blocks, widths)):
            layers = []
            for j in range(count):
                layers.append(PreActBlock(in_planes, width, 2 if i > 0 and j == 0 else 1))
                in_planes = width
            setattr(self, f"layer{i + 1}", nn.Sequential(*layers))
        self.linear = nn.Linear(in_planes, num_classes)

    def forward(self, x):
        out = self.conv1(x)
        for i in range(self.stages):
            out = getattr(self, f"layer{i + 1}")(out)
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


class VGG(nn.Module):
    """CIFAR VGG with BatchNorm: `features.N` (conv, BN, ReLU triples and max-pools), one Linear."""

    def __init__(self, cfg, num_classes=10):
        super().__init__()
        layers = []
        in_channels = 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(in_channels, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
                in_channels = v
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(in_channels, num_classes)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, 3x3 depthwise, 1x1 project; residual only at stride 1."""

    def __init__(self, in_planes, out_planes, expansion, stride):
        super().__init__()
        self.stride = stride
        planes = expansion * in_planes
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, groups=planes, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.shortcut = nn.Sequential()
        if stride == 1 and in_planes != out_planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, out_planes, 1, bias=False), nn.BatchNorm2d(out_planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return out + self.shortcut(x) if self.stride == 1 else out


# (expansion, out_planes, blocks, stride) of the CIFAR MobileNetV2 (stage 2 and the stem at stride 1).
MOBILENETV2_CFG = [(1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


class MobileNetV2(nn.Module):
    """CIFAR MobileNetV2; `scale` multiplies every width so that a fixture stays small."""

    def __init__(self, num_classes=10, scale=1.0):
        super().__init__()
        w = lambda c: max(1, int(round(c * scale)))  # noqa: E731
        self.conv1 = nn.Conv2d(3, w(32), 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(w(32))
        layers = []
        in_planes = w(32)
        for expansion, out_planes, count, stride in MOBILENETV2_CFG:
            for j in range(count):
                layers.append(InvertedResidual(in_planes, w(out_planes), expansion, stride if j == 0 else 1))
                in_planes = w(out_planes)
        self.layers = nn.Sequential(*layers)
        self.conv2 = nn.Conv2d(in_planes, w(1280), 1, bias=False)
        self.bn2 = nn.BatchNorm2d(w(1280))
        self.linear = nn.Linear(w(1280), num_classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layers(out)
        out = F.relu(self.bn2(self.conv2(out)))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


def randomize_batchnorm(model, generator):
    """Gives every BatchNorm non-trivial statistics and affine parameters, so that eval-mode BN
    (and its conversion) is really exercised by the golden logits."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(1 + 0.2 * torch.randn(n, generator=generator))
                m.bias.copy_(0.1 * torch.randn(n, generator=generator))
                m.running_mean.copy_(0.1 * torch.randn(n, generator=generator))
                m.running_var.copy_(0.5 + torch.rand(n, generator=generator))
                m.num_batches_tracked.fill_(7)
