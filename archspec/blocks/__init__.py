"""Block kinds. Importing this package registers every kind in `BLOCKS`."""

# Registration order is the order error messages list the kinds in: the residual ones first.
from archspec.blocks import residual  # noqa: F401, I001  (registers basic, bottleneck)
from archspec.blocks import vgg, nin, inception  # noqa: F401  (registers vgg, nin, inception)
from archspec.blocks.base import BLOCKS, SHORTCUT_HELP, BlockStage, Shortcut

__all__ = ["BLOCKS", "SHORTCUT_HELP", "BlockStage", "Shortcut"]
