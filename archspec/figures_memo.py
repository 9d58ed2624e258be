"""Block figures remembered across checks, for work that checks many similar specs (`archspec sample`).

A design space's samples share most of their blocks: the first stage's blocks read the same stem's
output, and widths come from a short list, so in 10,000 RegNetX samples two block copies in three
are ones an earlier sample already had (same kind, fields, copy position, input shape, shortcut).
Within `remembering_figures()`, the check's static twins are asked once per such copy. Outside it
nothing is remembered between checks, so that a check's cost (and `benchmarks/`) is its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from archspec.blocks.base import BlockFacts, BlockStage, Shortcut
from archspec.shapes import Shape

MAX_REMEMBERED = 16_384  # copies: a few MB, far more than a space's distinct blocks at one input size

_MEMO: ContextVar[dict[object, BlockFacts | None] | None] = ContextVar("figures_memo", default=None)


@contextmanager
def remembering_figures(memo: dict[object, BlockFacts | None] | None = None) -> Iterator[None]:
    """Checks inside remember block figures in `memo` (a new one by default: pass the same dict to
    share what was learnt between several such blocks)."""
    token = _MEMO.set({} if memo is None else memo)
    try:
        yield
    finally:
        _MEMO.reset(token)


def copy_facts(block: BlockStage, index: int, x: Shape, shortcut: Shortcut) -> BlockFacts | None:
    """`block.facts(index, x, shortcut)`, remembered where a memo is active and the kind says which
    copies are alike regardless of the stage's repeats and names (`BlockStage.figures_key`)."""
    memo = _MEMO.get()
    key = block.figures_key(index) if memo is not None else None
    if memo is None or key is None:
        return block.facts(index, x, shortcut)
    key = (key, x, shortcut)
    try:
        return memo[key]
    except KeyError:
        pass
    except TypeError:  # a field that cannot be hashed (a mapping): not remembered
        return block.facts(index, x, shortcut)
    facts = memo[key] = block.facts(index, x, shortcut)
    if len(memo) > MAX_REMEMBERED:
        memo.clear()
    return facts
