"""A second, independent account of what PyTorch does with a spec document: the test oracle.

It re-derives every output shape from PyTorch's own formulas (`pooling_output_shape` and the
convolution size rule in ATen), working on the plain document rather than on archspec's models or
lowered graph, so that a bug in archspec's static rules cannot hide in both places at once. The
strategies use it to know, while they draw, which choices keep a network valid, and to confirm that a
near-miss really breaks it. It covers the layer and block kinds the strategies generate.

`trace(document)` returns the input and output shape at every spec path, or raises `Refused` at the
first place where archspec refuses the network, saying whether plain PyTorch fails there too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from archspec.errors import SpecPath, format_path

Shape = tuple[int, ...]


class Refused(Exception):
    """The network breaks at `path`. `torch_fails`: plain PyTorch raises there as well (False where
    archspec refuses something PyTorch would run anyway, e.g. a residual addition that broadcasts)."""

    def __init__(self, path: SpecPath, reason: str, torch_fails: bool = True):
        super().__init__(f"{format_path(path)}: {reason}")
        self.path = path
        self.reason = reason
        self.torch_fails = torch_fails


@dataclass
class Trace:
    """Shapes at every spec path of a valid network, in order."""

    inputs: dict[SpecPath, Shape] = field(default_factory=dict)
    outputs: dict[SpecPath, Shape] = field(default_factory=dict)
    network_input: Shape = ()  # a network without layers gives its input: an identity

    @property
    def output(self) -> Shape:
        return list(self.outputs.values())[-1] if self.outputs else self.network_input


def pair(value: int | list[int] | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (value[0], value[1])


def conv_size(size: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> int:
    """ATen's convolution output size; < 1 where PyTorch refuses the input as too small."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def pool_size(size: int, kernel: int, stride: int, padding: int, ceil_mode: bool) -> int:
    """ATen's `pooling_output_shape` (dilation 1): div_rtn is floor division."""
    out = (size + 2 * padding - (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:  # the last window must start inside
        out -= 1
    return out


def broadcastable(a: Shape, b: Shape) -> bool:
    return len(a) == len(b) and all(x == y or x == 1 or y == 1 for x, y in zip(a, b))


def _image(x: Shape, path: SpecPath, what: str) -> tuple[int, int, int]:
    if len(x) != 3:
        raise Refused(path, f"{what} needs an image, found {x}")
    return x[0], x[1], x[2]


def _window(x: Shape, path: SpecPath, layer: dict, channels: int, pool: bool) -> Shape:
    _, h, w = _image(x, path, layer["layer"])
    kernel = pair(layer.get("kernel", 2 if pool else 3))
    stride = pair(layer.get("stride") or (kernel if pool else 1))
    padding = pair(layer.get("padding", 0))
    if pool and any(p * 2 > k for p, k in zip(padding, kernel)):
        raise Refused(path, "pool padding larger than half the kernel")
    if pool:
        sizes = [pool_size(s, k, st, p, layer.get("ceil_mode", False))
                 for s, k, st, p in zip((h, w), kernel, stride, padding)]
    else:
        dilation = pair(layer.get("dilation", 1))
        sizes = [conv_size(s, k, st, p, d) for s, k, st, p, d in zip((h, w), kernel, stride, padding, dilation)]
    if min(sizes) < 1:
        raise Refused(path, f"window {kernel} does not fit the {h}x{w} input")
    return (channels, sizes[0], sizes[1])


def layer_shape(layer: dict, x: Shape, path: SpecPath) -> Shape:
    kind = layer["layer"]
    if kind == "conv":
        c, _, _ = _image(x, path, "conv")
        groups = layer.get("groups", 1)
        groups = c if groups == "depthwise" else groups  # nn.Conv2d(groups=in_channels)
        if groups < 1:  # nn.Conv2d refuses it
            raise Refused(path, f"conv in {groups} groups")
        if layer["width"] < 1:  # nn.Conv2d makes an empty one; archspec refuses it
            raise Refused(path, f"conv to {layer['width']} channels", torch_fails=False)
        if c % groups or layer["width"] % groups:
            raise Refused(path, f"groups {groups} do not divide {c} -> {layer['width']} channels")
        return _window(x, path, layer, layer["width"], pool=False)
    if kind in ("maxpool", "avgpool"):
        return _window(x, path, layer, x[0], pool=True)
    if kind == "channel_shuffle":
        c, _, _ = _image(x, path, kind)
        if c % layer["groups"]:  # its view(N, groups, C // groups, H, W) fails
            raise Refused(path, f"channel_shuffle groups {layer['groups']} do not divide {c} channels")
        return x
    if kind == "pointwise_linear":
        _, height, width = _image(x, path, kind)  # nn.Linear over each pixel's channels
        return (layer["width"], height, width)
    if kind == "layer_scale":
        _image(x, path, kind)  # a C x 1 x 1 factor: on N x C it would broadcast against the batch
    if kind in ("adaptive_avgpool", "global_avgpool", "adaptive_maxpool", "global_maxpool"):
        c, _, _ = _image(x, path, kind)
        return (c, *pair(layer.get("size", 1)))
    if kind == "flatten":
        return (math.prod(x),)
    if kind == "linear":
        if len(x) != 1:
            # Plain PyTorch: nn.Linear(in_features=channels) on N x C x H x W multiplies the last axis.
            raise Refused(path, f"linear on an image {x}", torch_fails=x[-1] != x[0])
        return (layer["width"],)
    if kind == "local_response_norm":
        _image(x, path, kind)
    if kind in ELEMENTWISE:
        return x
    raise Refused(path, f"no reference rule for layer kind {kind!r}", torch_fails=False)


ELEMENTWISE = frozenset({"batchnorm", "relu", "sigmoid", "tanh", "gelu", "silu", "leaky_relu", "dropout",
                         "local_response_norm", "relu6", "hardswish", "hardsigmoid", "identity",
                         "stochastic_depth", "layernorm", "layer_scale"})


# ---- blocks: (stage dict, input shape, spec default shortcut, path) -> output shape ---------------

def _conv3(x: Shape, width: int, stride: int, kernel: int = 3) -> Shape:
    return (width, conv_size(x[1], kernel, stride, kernel // 2), conv_size(x[2], kernel, stride, kernel // 2))


def _residual(stage: dict, x: Shape, default: str, path: SpecPath, out_width: int) -> Shape:
    shortcut = stage.get("shortcut") or default
    for copy in range(stage.get("repeats", 1)):
        stride = stage.get("stride", 1) if copy == 0 else 1
        out = _conv3(x, out_width, stride)  # every residual path maps HxW to ceil(H/stride) x ceil(W/stride)
        changes = out != x
        if shortcut == "A" and changes:
            if out_width < x[0]:
                raise Refused(path, "shortcut A cannot reduce channels", torch_fails=False)
        elif shortcut == "identity" and changes:
            raise Refused(path, f"identity shortcut: main path {out}, input {x}",
                          torch_fails=not broadcastable(out, x))
        x = out
    return x


def basic_shape(stage: dict, x: Shape, default: str, path: SpecPath) -> Shape:
    return _residual(stage, x, default, path, stage["width"])


def bottleneck_shape(stage: dict, x: Shape, default: str, path: SpecPath) -> Shape:
    return _residual(stage, x, default, path, stage["width"] * stage.get("expansion", 4))


def vgg_shape(stage: dict, x: Shape, default: str, path: SpecPath) -> Shape:
    _image(x, path, "vgg")
    pool = {"layer": "maxpool", "kernel": 2, "stride": 2}
    return layer_shape(pool, (stage["width"], x[1], x[2]), path)


def nin_shape(stage: dict, x: Shape, default: str, path: SpecPath) -> Shape:
    for copy in range(stage.get("repeats", 1)):
        conv = {"layer": "conv", "width": stage["width"], "kernel": stage["kernel"],
                "stride": stage.get("stride", 1) if copy == 0 else 1, "padding": stage.get("padding", 0)}
        x = layer_shape(conv, x, path)
    return x


def inception_shape(stage: dict, x: Shape, default: str, path: SpecPath) -> Shape:
    _image(x, path, "inception")
    kernel = stage.get("c3_kernel", 5)
    branch3 = _conv3(x, stage["c3"][1], 1, kernel)
    if branch3[1:] != x[1:]:  # the other branches keep the size
        raise Refused(path, f"branch3's {kernel}x{kernel} convolution gives {branch3[1:]}, the others {x[1:]}")
    # Every copy keeps the size and outputs c1 + c2[1] + c3[1] + c4 channels, whatever its input.
    return (stage["c1"] + stage["c2"][1] + stage["c3"][1] + stage["c4"], x[1], x[2])


BlockShape = Callable[[dict, Shape, str, SpecPath], Shape]
BLOCK_SHAPES: dict[str, BlockShape] = {"basic": basic_shape, "bottleneck": bottleneck_shape,
                                       "vgg": vgg_shape, "nin": nin_shape, "inception": inception_shape}


def trace(document: dict) -> Trace:
    """Input and output shape at every layer and stage path; raises `Refused` where it breaks (for a
    stage of a kind defined in YAML, at the node of its definition: archspec.testing.reference_defined)."""
    from archspec.testing.reference_defined import find_definition, stage_shape

    size = pair(document["input"]["size"])
    x: Shape = (document["input"]["channels"], *size)
    default = document.get("shortcut", "B")
    blocks = document.get("blocks", {})
    result = Trace(network_input=x)

    def step(path: SpecPath, entry: dict, x: Shape) -> Shape:
        result.inputs[path] = x
        if "layer" in entry:
            out = layer_shape(entry, x, path)
        elif entry["block"] in BLOCK_SHAPES:
            out = BLOCK_SHAPES[entry["block"]](entry, x, default, path)
        elif find_definition(entry["block"], blocks) is not None:  # a kind written in YAML
            out = stage_shape(entry["block"], entry, x, default, blocks)
        else:
            raise Refused(path, f"no reference rule for block kind {entry['block']!r}", torch_fails=False)
        result.outputs[path] = out
        return out

    for i, layer in enumerate(document.get("stem", ())):
        x = step(("stem", i), layer, x)
    for i, stage in enumerate(document.get("stages", ())):
        if "blocks" in stage:
            result.inputs[("stages", i)] = x
            for j, entry in enumerate(stage["blocks"]):
                x = step(("stages", i, "blocks", j), entry, x)
            result.outputs[("stages", i)] = x
        else:
            x = step(("stages", i), stage, x)
    for i, layer in enumerate(document.get("head", ())):
        x = step(("head", i), layer, x)
    return result
