"""What the blocks without a residual path share (`vgg`, `nin`, `inception`).

Such a block has no shortcut: a `shortcut:` written on it is refused rather than silently ignored.
Its convolutions are "conv [-> BatchNorm] -> ReLU" units, numbered conv1, bn1, relu1, conv2, ... so
that the parameters come in the order torchvision and the d2l tutorials define them.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field, field_validator

from archspec.blocks.base import BlockStage, Shortcut, conv_moment, elementwise_moment, norm_moment
from archspec.budget import Moment
from archspec.errors import SpecPath
from archspec.graph import Node, layer_node
from archspec.layer_rules import conv_facts
from archspec.layers import BatchNorm, Conv, ReLU, SizeOrPair, derived
from archspec.shapes import Shape, pair

NormEps = Annotated[float, Field(gt=0.0, le=1.0)]


class PlainBlockStage(BlockStage):
    """A block kind with no shortcut (the spec's `shortcut` default does not apply to it)."""

    default_shortcut_applies: ClassVar[bool] = False
    # Why `stride` must stay 1, for kinds whose size change is fixed by their structure (None: any).
    fixed_stride_reason: ClassVar[str | None] = None

    @field_validator("stride")
    @classmethod
    def _stride_applies(cls, value: int) -> int:
        if value != 1 and cls.fixed_stride_reason:
            raise ValueError(f"stride 1: {cls.fixed_stride_reason} (remove `stride`)")
        return value

    @field_validator("shortcut")
    @classmethod
    def _has_no_shortcut(cls, value: Shortcut | None) -> Shortcut | None:
        if value is not None:
            raise ValueError(f"no `shortcut`: a {cls.kind()} block has no residual path "
                             "(remove the key, or use a basic/bottleneck block)")
        return value

    @classmethod
    def kind(cls) -> str:
        (name,) = cls.model_fields["block"].annotation.__args__  # type: ignore[union-attr]
        return str(name)


def conv_unit(number: int, width: int, kernel: SizeOrPair, origin: SpecPath, *, stride: int = 1,
              padding: int | tuple[int, int] = 0, bias: bool = True, norm_eps: float | None = None
              ) -> tuple[Node, ...]:
    """conv{n} [-> bn{n}] -> relu{n}, unchained; BatchNorm only when `norm_eps` is given."""
    conv = derived(Conv, layer="conv", width=width, kernel=kernel, stride=stride, padding=padding, bias=bias)
    nodes = [layer_node(f"conv{number}", conv, origin)]
    if norm_eps is not None:
        nodes.append(layer_node(f"bn{number}", derived(BatchNorm, layer="batchnorm", eps=norm_eps), origin))
    nodes.append(layer_node(f"relu{number}", derived(ReLU, layer="relu"), origin))
    return tuple(nodes)


def unit_facts(x: Shape, width: int, kernel: SizeOrPair, *, stride: int = 1,
               padding: int | tuple[int, int] = 0, bias: bool = True, norm: bool = False
               ) -> tuple[Shape, int, int, int, list[Moment]]:
    """The static twin of `conv_unit`: its output shape, parameters, MACs, buffer bytes (its
    BatchNorm's running statistics) and its layers' peaks."""
    out, params, macs = conv_facts(x, width, pair(kernel), (stride, stride), pair(padding), bias=bias)
    layers = [conv_moment(x, out, pair(kernel), (stride, stride)), elementwise_moment(out)]
    if not norm:
        return out, params, macs, 0, layers
    layers.insert(1, norm_moment(out))
    return out, params + 2 * width, macs, BatchNorm.running_stats_bytes(width), layers
