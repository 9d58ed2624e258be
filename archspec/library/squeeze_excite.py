"""Static twin of `squeeze_excite` (squeeze_excite.yaml), timm's SEModule; the SE blocks of
se_resnet.yaml nest it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from archspec.blocks.base import BlockFacts, Shortcut
from archspec.library.twins import Part, gate, twin, whole
from archspec.shapes import Shape

if TYPE_CHECKING:
    from archspec.blocks.defined import DefinedStage


def squeeze_excite_part(x: Shape, reduction: object, divisor: object) -> Part | None:
    """The gate on input `x` (an image), squeezed to `in / reduction` channels rounded to a multiple of
    `divisor`, at least `divisor` (fc1's width as the definition writes it); None where a field is
    out of what the twin takes, or `requires:` or a layer would refuse it."""
    if not whole(reduction) or not whole(divisor):
        return None
    unit = reduction * divisor
    return gate(x, max(divisor, (x[0] + unit // 2) // unit * divisor), "relu", "sigmoid")


@twin("squeeze_excite")
def squeeze_excite(block: DefinedStage, index: int, x: Shape, shortcut: Shortcut) -> BlockFacts | None:
    # The width and stride a stage gives are read by no node: the output has the input's shape.
    if len(x) != 3:
        return None
    return squeeze_excite_part(x, block.reduction, block.divisor)  # type: ignore[attr-defined]
