#!/usr/bin/python3
"""Creates the model-format fixtures under test/fixtures/formats/ with the real producers.

Run with Debian's /usr/bin/python3 (python3-torch 1.13, python3-onnx, python3-h5py); nothing is
installed from PyPI. Each fixture gets `<name>.logits.json` next to it: the producer's own outputs
on fixed inputs (inputs/*.json), which the TypeScript tests compare the IR against.

- ONNX: torch.onnx.export at opsets 11, 13 and 17 of a network that uses every mapped op, a
  MobileNetV2 exported the default way (BatchNorm folded into the convolutions), a model with an
  unsupported op, and models whose weights live in external-data files.
- PyTorch: torch.save of the state_dict of each built-in architecture at a small width, one
  wrapped as {'netC': ..., 'epoch': ...} with DataParallel's 'module.' prefixes, a legacy
  (non-zip) checkpoint, a checkpoint pickling a whole nn.Module, and one whose pickle calls
  os.system when torch.load runs it.
- safetensors: written per the format's specification (the safetensors package is not in Debian).
- Keras: Keras and TensorFlow cannot be installed here, so the .keras and .h5 files are
  LAYOUT-FAITHFUL REPRODUCTIONS, not files saved by Keras: they are written with h5py and zipfile
  following Keras 3's saving_lib.py (.keras: config.json, metadata.json, model.weights.h5 with
  layers/<snake_case class>/vars/<i>) and legacy_h5_format.py (.h5: model_config attribute,
  model_weights/<layer>/<weight name> with weight_names attributes), and their reference logits
  are computed with torch from the same weights.

Usage: /usr/bin/python3 scripts/make-format-fixtures.py
"""
import io
import json
import os
import re
import shutil
import struct
import sys
import zipfile

import h5py
import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import TensorProto, helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_archs import VGG, VGG16_CFG, MobileNetV2, PreActResNet, ResNet, randomize_batchnorm  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "fixtures", "formats")


def path(*parts):
    p = os.path.join(OUT, *parts)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    return p


def round_floats(a):
    """Values rounded to 6 significant digits, so that the JSON stays small; both sides read the
    same decimal strings and round them to the same float32."""
    return [float(f"{v:.6g}") for v in np.asarray(a, dtype=np.float64).ravel()]


def make_inputs(name, shape, seed, layout):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g)
    x = torch.tensor(round_floats(x), dtype=torch.float32).reshape(shape)
    with open(path("inputs", f"{name}.json"), "w") as f:
        json.dump({"shape": list(shape), "layout": layout, "data": round_floats(x)}, f)
    return x


def save_logits(fixture, input_name, logits, producer, extra=None):
    record = {"inputs": f"inputs/{input_name}.json", "producer": producer, "logits": np.asarray(logits, dtype=np.float64).tolist()}
    record.update(extra or {})
    with open(path(fixture + ".logits.json"), "w") as f:
        json.dump(record, f)


def seeded(model, seed):
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * (1.0 / max(1, p[0].numel()) ** 0.5))
    randomize_batchnorm(model, g)
    return model.eval()


# ---- ONNX -------------------------------------------------------------------------------------


class OpsNet(nn.Module):
    """Every op the ONNX loader maps, in one 16x16 classifier."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=True)
        self.bn1 = nn.BatchNorm2d(8)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.grouped = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=2, bias=True)
        self.conv2 = nn.Conv2d(16, 12, 3, stride=2, padding=1)
        self.fc = nn.Linear(48, 10)
        self.drop = nn.Dropout(0.3)

    def logits(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        a = F.relu6(self.bn2(self.dw(x)))
        b = F.leaky_relu(self.grouped(x), 0.1)
        x = a + b
        x = torch.cat([F.silu(x), F.hardswish(x)], dim=1)
        x = F.pad(x, (0, 1, 0, 1))
        x = F.max_pool2d(x, 2, 2, ceil_mode=True)
        x = torch.tanh(self.conv2(x))
        x = F.avg_pool2d(x, 3, 1, padding=1, count_include_pad=False)
        x = torch.flatten(F.avg_pool2d(x, 2, 2), 1)
        return self.drop(self.fc(x))

    def forward(self, x):
        return torch.softmax(self.logits(x), dim=1)


def export(model, x, file, opset, **kwargs):
    torch.onnx.export(model, x, file, opset_version=opset, input_names=["input"], output_names=["output"], dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, **kwargs)


def make_onnx():
    x16 = make_inputs("nchw-3x16x16", (2, 3, 16, 16), 1, "NCHW")
    x32 = make_inputs("nchw-3x32x32", (2, 3, 32, 32), 2, "NCHW")
    ops = seeded(OpsNet(), 3)
    with torch.no_grad():
        probs = ops(x16)
        logits = ops.logits(x16)
    for opset in (11, 13, 17):
        # PRESERVE keeps BatchNormalization as its own node (the scanner perturbs it).
        export(ops, x16, path("onnx", f"ops-opset{opset}.onnx"), opset, training=torch.onnx.TrainingMode.PRESERVE)
        save_logits(f"onnx/ops-opset{opset}", "nchw-3x16x16", logits, f"torch {torch.__version__} torch.onnx.export opset {opset}", {"probabilities": probs.tolist()})

    mobile = seeded(MobileNetV2(num_classes=10, scale=0.125), 4)
    with torch.no_grad():
        logits = mobile(x32)
    # The default eval-mode export folds every BatchNorm into the preceding convolution.
    export(mobile, x32, path("onnx", "mobilenetv2-folded-opset13.onnx"), 13)
    save_logits("onnx/mobilenetv2-folded-opset13", "nchw-3x32x32", logits, f"torch {torch.__version__} torch.onnx.export opset 13 (BatchNorm folded)")

    # A model with an op the loader does not map.
    w = helper.make_tensor("conv.weight", TensorProto.FLOAT, [2, 3, 1, 1], np.linspace(-1, 1, 6).tolist())
    nodes = [
        helper.make_node("Conv", ["input", "conv.weight"], ["c"], name="conv"),
        helper.make_node("Erf", ["c"], ["e"], name="weird_erf"),
        helper.make_node("GlobalAveragePool", ["e"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["output"], name="flatten"),
    ]
    graph = helper.make_graph(nodes, "unsupported", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 4, 4])], [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 2])], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path("onnx", "unsupported-erf.onnx"))

    # Hand-built graphs for the forms torch.onnx.export does not write: opset-9 attributes
    # (Clip min/max, Pad pads), auto_pad, MatMul + Add, a static Reshape, Gemm without transB.
    # Their reference is onnxruntime at test time.
    g = np.random.default_rng(9)
    f32 = lambda *s: g.standard_normal(s).astype(np.float32).ravel().tolist()  # noqa: E731
    init9 = [
        helper.make_tensor("w1", TensorProto.FLOAT, [6, 3, 3, 3], f32(6, 3, 3, 3)),
        helper.make_tensor("b1", TensorProto.FLOAT, [6], f32(6)),
        helper.make_tensor("shape", TensorProto.INT64, [2], [0, -1]),
        helper.make_tensor("w2", TensorProto.FLOAT, [6 * 5 * 5, 5], f32(150, 5)),
        helper.make_tensor("b2", TensorProto.FLOAT, [5], f32(5)),
    ]
    nodes9 = [
        helper.make_node("Conv", ["input", "w1", "b1"], ["c"], name="conv_same", auto_pad="SAME_UPPER", strides=[2, 2], kernel_shape=[3, 3]),
        helper.make_node("Clip", ["c"], ["r"], name="relu6", min=0.0, max=6.0),
        helper.make_node("Pad", ["r"], ["p"], name="pad", pads=[0, 0, 1, 0, 0, 0, 0, 1], mode="constant", value=0.0),
        helper.make_node("AveragePool", ["p"], ["a"], name="avg", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1),
        helper.make_node("Reshape", ["a", "shape"], ["f"], name="reshape"),
        helper.make_node("MatMul", ["f", "w2"], ["m"], name="matmul"),
        helper.make_node("Add", ["m", "b2"], ["output"], name="bias"),
    ]
    graph = helper.make_graph(nodes9, "handmade9", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 16, 16])], [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 5])], init9)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)]), path("onnx", "handmade-opset9.onnx"))
    init13 = [
        helper.make_tensor("w1", TensorProto.FLOAT, [4, 3, 3, 3], f32(4, 3, 3, 3)),
        helper.make_tensor("w2", TensorProto.FLOAT, [4, 3], f32(4, 3)),
        helper.make_tensor("b2", TensorProto.FLOAT, [3], f32(3)),
    ]
    nodes13 = [
        helper.make_node("Conv", ["input", "w1"], ["c"], name="conv_lower", auto_pad="SAME_LOWER", strides=[2, 2], kernel_shape=[3, 3]),
        helper.make_node("HardSigmoid", ["c"], ["h"], name="hsig", alpha=0.3, beta=0.4),
        helper.make_node("GlobalMaxPool", ["h"], ["g"], name="gmp"),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "w2", "b2"], ["output"], name="gemm"),
    ]
    graph = helper.make_graph(nodes13, "handmade13", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 16, 16])], [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 3])], init13)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path("onnx", "handmade-opset13.onnx"))

    # External data: weights in a file beside the model, and a copy that points outside its folder.
    small = seeded(ResNet([1], [4], num_classes=3), 5)
    with torch.no_grad():
        logits = small(x16)
    tmp = path("onnx", "external", "tmp.onnx")
    export(small, x16, tmp, 13, training=torch.onnx.TrainingMode.PRESERVE)
    m = onnx.load(tmp)
    os.remove(tmp)
    onnx.save_model(m, path("onnx", "external", "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True, location="model.weights.bin", size_threshold=0)
    save_logits("onnx/external/model", "nchw-3x16x16", logits, f"torch {torch.__version__} torch.onnx.export opset 13, onnx.save_model external data")
    escape = onnx.load(path("onnx", "external", "model.onnx"), load_external_data=False)
    for t in escape.graph.initializer:
        for entry in t.external_data:
            if entry.key == "location":
                entry.value = "../external/model.weights.bin"
    onnx.save(escape, path("onnx", "external-escape", "model.onnx"))


# ---- PyTorch and safetensors ---------------------------------------------------------------------


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1)

    def forward(self, x):
        return self.conv(x).mean((2, 3))


class Exploit:
    """What an attacker pickles: unpickling calls os.system with the command."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def pytorch_models():
    return {
        "resnet18-w4": ResNet([2, 2, 2, 2], [4, 8, 16, 32], num_classes=10),
        "resnet-w16": ResNet([1, 1, 1], [16, 32, 64], num_classes=10),
        "preactresnet18-w4": PreActResNet([2, 2, 2, 2], [4, 8, 16, 32], num_classes=10),
        "vgg16bn-w4": VGG([v if v == "M" else v // 16 for v in VGG16_CFG], num_classes=10),
        "mobilenetv2-s0.125": MobileNetV2(num_classes=10, scale=0.125),
    }


def make_pytorch(x32):
    for i, (name, model) in enumerate(pytorch_models().items()):
        seeded(model, 10 + i)
        with torch.no_grad():
            logits = model(x32)
        torch.save(model.state_dict(), path("pytorch", f"{name}.pt"))
        save_logits(f"pytorch/{name}", "nchw-3x32x32", logits, f"torch {torch.__version__} torch.save(state_dict)")
        if name == "resnet18-w4":
            wrapped = {"netC": {f"module.{k}": v for k, v in model.state_dict().items()}, "epoch": 3, "best_acc": 91.5, "note": "wrapped"}
            torch.save(wrapped, path("pytorch", "resnet18-w4-wrapped.pth"))
            save_logits("pytorch/resnet18-w4-wrapped", "nchw-3x32x32", logits, f"torch {torch.__version__} torch.save({{'netC': DataParallel state_dict, ...}})")
            write_safetensors(model.state_dict(), path("safetensors", "resnet18-w4.safetensors"))
            save_logits("safetensors/resnet18-w4", "nchw-3x32x32", logits, f"torch {torch.__version__} weights, safetensors written per the format specification")
    torch.manual_seed(0)
    tiny = TinyNet()
    torch.save(tiny.state_dict(), path("pytorch", "legacy-format.pt"), _use_new_zipfile_serialization=False)
    torch.save(tiny, path("pytorch", "whole-module.pt"))
    # The marker file this pickle would create; the test asserts that it never appears.
    torch.save({"conv.weight": torch.zeros(2, 3, 1, 1), "payload": Exploit("touch /tmp/PWNED_backdoor_scanner_fixture")}, path("pytorch", "malicious.pt"))


SAFETENSORS_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.float64: "F64", torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8", torch.bool: "BOOL"}


def write_safetensors(state_dict, file):
    """The safetensors layout: u64 little-endian header size, JSON header, raw little-endian data."""
    header, chunks, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in state_dict.items():
        data = t.contiguous().numpy().tobytes()
        header[name] = {"dtype": SAFETENSORS_DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - len(text) % 8) % 8)
    with open(file, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text.encode())
        for c in chunks:
            f.write(c)


# ---- Keras (layout-faithful reproductions) -------------------------------------------------------


def keras_weights(seed):
    g = np.random.default_rng(seed)
    r = lambda *s: (g.standard_normal(s) * 0.4).astype(np.float32)  # noqa: E731
    return {
        "conv2d": [r(3, 3, 3, 8)],
        "batch_normalization": [1 + r(8) * 0.5, r(8), r(8) * 0.3, (0.5 + g.random(8)).astype(np.float32)],
        "depthwise_conv2d": [r(3, 3, 8, 1), r(8)],
        "conv2d_1": [r(1, 1, 8, 8), r(8)],
        "conv2d_2": [r(3, 3, 8, 12), r(12)],
        "dense": [r(12, 5), r(5)],
    }


def keras_reference_logits(w, x_nhwc):
    """The Keras model's forward pass written with torch ops (NCHW inside)."""
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
    conv_w = lambda k: t(k).permute(3, 2, 0, 1)  # noqa: E731  [kh,kw,in,out] -> [out,in,kh,kw]
    x = t(x_nhwc).permute(0, 3, 1, 2)
    x = F.conv2d(x, conv_w(w["conv2d"][0]), padding=1)
    gamma, beta, mean, var = (t(a) for a in w["batch_normalization"])
    x = F.batch_norm(x, mean, var, gamma, beta, False, 0.0, 1e-3)
    a = F.relu(x)
    dw = t(w["depthwise_conv2d"][0]).permute(2, 3, 0, 1).reshape(8, 1, 3, 3)
    y = torch.clamp(F.conv2d(a, dw, t(w["depthwise_conv2d"][1]), padding=1, groups=8), 0, 6)
    y = F.conv2d(y, conv_w(w["conv2d_1"][0]), t(w["conv2d_1"][1]))
    x = F.max_pool2d(a + y, 2)
    x = F.relu(F.conv2d(x, conv_w(w["conv2d_2"][0]), t(w["conv2d_2"][1])))
    x = x.mean((2, 3))
    return x @ t(w["dense"][0]) + t(w["dense"][1])


def keras3_layer(class_name, name, config, inbound, shape=None):
    layer = {"module": "keras.layers", "class_name": class_name, "config": {"name": name, "trainable": True, "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}, **config}, "registered_name": None, "name": name}
    if shape is not None:
        layer["build_config"] = {"input_shape": shape}
    layer["inbound_nodes"] = [{"args": [inbound], "kwargs": {}}] if inbound is not None else []
    return layer


def keras_tensor(layer, shape):
    return {"class_name": "__keras_tensor__", "config": {"shape": shape, "dtype": "float32", "keras_history": [layer, 0, 0]}}


def keras3_config(with_lambda=False):
    conv = lambda f, k, pad, act, bias: {"filters": f, "kernel_size": [k, k], "strides": [1, 1], "padding": pad, "data_format": "channels_last", "dilation_rate": [1, 1], "groups": 1, "activation": act, "use_bias": bias}  # noqa: E731
    layers = [
        {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [None, 8, 8, 3], "dtype": "float32", "sparse": False, "name": "input_layer"}, "registered_name": None, "name": "input_layer", "inbound_nodes": []},
        keras3_layer("Conv2D", "conv2d", conv(8, 3, "same", "linear", False), keras_tensor("input_layer", [None, 8, 8, 3]), [None, 8, 8, 3]),
        keras3_layer("BatchNormalization", "batch_normalization", {"axis": -1, "momentum": 0.99, "epsilon": 0.001, "center": True, "scale": True}, keras_tensor("conv2d", [None, 8, 8, 8]), [None, 8, 8, 8]),
        keras3_layer("Activation", "activation", {"activation": "relu"}, keras_tensor("batch_normalization", [None, 8, 8, 8])),
        keras3_layer("DepthwiseConv2D", "depthwise_conv2d", {"kernel_size": [3, 3], "strides": [1, 1], "padding": "same", "data_format": "channels_last", "dilation_rate": [1, 1], "depth_multiplier": 1, "activation": "relu6", "use_bias": True}, keras_tensor("activation", [None, 8, 8, 8]), [None, 8, 8, 8]),
        keras3_layer("Conv2D", "conv2d_1", conv(8, 1, "valid", "linear", True), keras_tensor("depthwise_conv2d", [None, 8, 8, 8]), [None, 8, 8, 8]),
        keras3_layer("Add", "add", {}, [keras_tensor("activation", [None, 8, 8, 8]), keras_tensor("conv2d_1", [None, 8, 8, 8])]),
        keras3_layer("MaxPooling2D", "max_pooling2d", {"pool_size": [2, 2], "padding": "valid", "strides": [2, 2], "data_format": "channels_last"}, keras_tensor("add", [None, 8, 8, 8])),
        keras3_layer("Conv2D", "conv2d_2", conv(12, 3, "valid", "relu", True), keras_tensor("max_pooling2d", [None, 4, 4, 8]), [None, 4, 4, 8]),
        keras3_layer("GlobalAveragePooling2D", "global_average_pooling2d", {"data_format": "channels_last", "keepdims": False}, keras_tensor("conv2d_2", [None, 2, 2, 12])),
        keras3_layer("Dense", "dense", {"units": 5, "activation": "softmax", "use_bias": True}, keras_tensor("global_average_pooling2d", [None, 12]), [None, 12]),
    ]
    if with_lambda:
        # A Lambda layer stores the function's marshalled bytecode; loading it would run that code.
        layers.insert(3, keras3_layer("Lambda", "lambda", {"function": {"class_name": "__lambda__", "config": {"code": "4wEAAAAAAAAAAAAAAAEAAAACAAAAQwAAAHMIAAAAfABkARQAUwApAk7pAgAAAKkAKQHaAXhyAgAAAHICAAAA+gc8c3RkaW4++gg8bGFtYmRhPgEAAADzAAAAAA==", "defaults": None, "closure": None}}, "arguments": {}}, keras_tensor("batch_normalization", [None, 8, 8, 8])))
        layers[4]["inbound_nodes"][0]["args"] = [keras_tensor("lambda", [None, 8, 8, 8])]
    return {
        "module": "keras",
        "class_name": "Functional",
        "config": {"name": "functional", "trainable": True, "layers": layers, "input_layers": [["input_layer", 0, 0]], "output_layers": [["dense", 0, 0]]},
        "registered_name": "Functional",
        "build_config": {"input_shape": None},
        "compile_config": None,
    }


def snake_case(name):
    """Keras' naming.to_snake_case: drop non-word characters, split CamelCase words, lower-case."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def write_keras3(file, config, weights):
    """saving_lib layout: metadata.json, config.json, then model.weights.h5 written by H5IOStore:
    a `vars` group per saveable, the model's own at the root, and each layer's under
    layers/<snake_case class name>, numbered _1, _2, ... per class in layer order (the container
    rule of _save_container_state), with the variables as datasets 0..n."""
    buf = io.BytesIO()
    used = {}
    with h5py.File(buf, "w") as h5:
        h5.create_group("vars")
        for layer in config["config"]["layers"]:
            base = snake_case(layer["class_name"])
            used[base] = used[base] + 1 if base in used else 0
            group = h5.create_group(f"layers/{base}_{used[base]}" if used[base] else f"layers/{base}").create_group("vars")
            for i, value in enumerate(weights.get(layer["name"], [])):
                group[str(i)] = value
    # Fixed entry dates keep the archive identical from run to run.
    with zipfile.ZipFile(file, "w") as zf:
        for name, data in [
            ("metadata.json", json.dumps({"keras_version": "3.8.0", "date_saved": "2025-01-01@00:00:00"}).encode()),
            ("config.json", json.dumps(config).encode()),
            ("model.weights.h5", buf.getvalue()),
        ]:
            zf.writestr(zipfile.ZipInfo(name, date_time=(2025, 1, 1, 0, 0, 0)), data)


def write_keras2_h5(file, weights):
    """legacy_h5_format layout of a tf.keras 2 Sequential model."""
    layers = [
        ("InputLayer", "conv2d_input", {"batch_input_shape": [None, 8, 8, 3], "dtype": "float32", "sparse": False, "ragged": False}),
        ("Conv2D", "conv2d", {"filters": 4, "kernel_size": [3, 3], "strides": [1, 1], "padding": "valid", "data_format": "channels_last", "dilation_rate": [1, 1], "groups": 1, "activation": "relu", "use_bias": True}),
        ("BatchNormalization", "batch_normalization", {"axis": [3], "momentum": 0.99, "epsilon": 0.001, "center": True, "scale": True}),
        ("MaxPooling2D", "max_pooling2d", {"pool_size": [2, 2], "padding": "valid", "strides": [2, 2], "data_format": "channels_last"}),
        ("Flatten", "flatten", {"data_format": "channels_last"}),
        ("Dropout", "dropout", {"rate": 0.5, "noise_shape": None, "seed": None}),
        ("Dense", "dense", {"units": 5, "activation": "linear", "use_bias": True}),
    ]
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [{"class_name": c, "config": {"name": n, "trainable": True, "dtype": "float32", **cfg}} for c, n, cfg in layers]}}
    names = {"conv2d": ["kernel:0", "bias:0"], "batch_normalization": ["gamma:0", "beta:0", "moving_mean:0", "moving_variance:0"], "dense": ["kernel:0", "bias:0"]}
    with h5py.File(file, "w") as f:
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.13.1"
        f.attrs["model_config"] = json.dumps(config).encode("utf8")
        g = f.create_group("model_weights")
        model_layers = [n for _, n, _ in layers[1:]]
        g.attrs["layer_names"] = [n.encode("utf8") for n in model_layers]
        g.attrs["backend"] = b"tensorflow"
        g.attrs["keras_version"] = b"2.13.1"
        for name in sorted(model_layers):
            lg = g.create_group(name)
            weight_names = [f"{name}/{w}".encode("utf8") for w in names.get(name, [])]
            lg.attrs["weight_names"] = weight_names
            for wn, value in zip(weight_names, weights.get(name, [])):
                ds = lg.create_dataset(wn.decode(), value.shape, dtype=value.dtype)
                ds[:] = value
        f.create_group("top_level_model_weights").attrs["weight_names"] = []


def keras2_reference_logits(w, x_nhwc):
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
    x = t(x_nhwc).permute(0, 3, 1, 2)
    x = F.relu(F.conv2d(x, t(w["conv2d"][0]).permute(3, 2, 0, 1), t(w["conv2d"][1])))
    gamma, beta, mean, var = (t(a) for a in w["batch_normalization"])
    x = F.max_pool2d(F.batch_norm(x, mean, var, gamma, beta, False, 0.0, 1e-3), 2)
    x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # Keras flattens channels-last
    return x @ t(w["dense"][0]) + t(w["dense"][1])


def make_keras():
    x = make_inputs("nhwc-8x8x3", (2, 8, 8, 3), 6, "NHWC").numpy()
    w = keras_weights(7)
    write_keras3(path("keras", "functional.keras"), keras3_config(), w)
    save_logits("keras/functional", "nhwc-8x8x3", keras_reference_logits(w, x), "layout-faithful Keras 3 .keras written with h5py/zipfile; logits from torch with the same weights")
    write_keras3(path("keras", "lambda.keras"), keras3_config(with_lambda=True), w)
    g = np.random.default_rng(8)
    r = lambda *s: (g.standard_normal(s) * 0.4).astype(np.float32)  # noqa: E731
    w2 = {"conv2d": [r(3, 3, 3, 4), r(4)], "batch_normalization": [1 + r(4) * 0.5, r(4), r(4) * 0.3, (0.5 + g.random(4)).astype(np.float32)], "dense": [r(36, 5), r(5)]}
    write_keras2_h5(path("keras", "sequential-keras2.h5"), w2)
    save_logits("keras/sequential-keras2", "nhwc-8x8x3", keras2_reference_logits(w2, x), "layout-faithful tf.keras 2 .h5 written with h5py; logits from torch with the same weights")


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    torch.set_num_threads(1)
    make_onnx()
    with open(path("inputs", "nchw-3x32x32.json")) as f:
        spec = json.load(f)
    x32 = torch.tensor(spec["data"], dtype=torch.float32).reshape(spec["shape"])
    make_pytorch(x32)
    make_keras()
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print(f"wrote {OUT} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
