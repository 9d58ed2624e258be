"""Static twin of `squeeze_excitation` (squeeze_excitation.yaml), torchvision's SqueezeExcitation; the
EfficientNet blocks of mbconv_layers.yaml nest it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from archspec.blocks.base import BlockFacts, Shortcut
from archspec.library.twins import gate, twin
from archspec.shapes import Shape

if TYPE_CHECKING:
    from archspec.blocks.defined import DefinedStage

SQUEEZE_DEFAULT = "${in // 4}"


@twin("squeeze_excitation")
def squeeze_excitation(block: DefinedStage, index: int, x: Shape, shortcut: Shortcut) -> BlockFacts | None:
    # The width and stride a stage gives are read by no node: the output has the input's shape.
    if len(x) != 3:
        return None
    squeeze = block.squeeze  # type: ignore[attr-defined]
    return gate(x, x[0] // 4 if squeeze == SQUEEZE_DEFAULT else squeeze, block.activation,  # type: ignore[attr-defined]
                block.gate)  # type: ignore[attr-defined]

