"""Block kinds. Importing this package registers every kind in `BLOCKS`."""

from archspec.blocks import residual  # noqa: F401  (registers basic, bottleneck)
from archspec.blocks.base import BLOCKS, SHORTCUT_HELP, BlockStage, Shortcut

__all__ = ["BLOCKS", "SHORTCUT_HELP", "BlockStage", "Shortcut"]
