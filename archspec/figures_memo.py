"""Block figures remembered across checks, for work that checks many similar specs (`archspec sample`).

A design space's samples share most of their blocks: the first stage's blocks read the same stem's
output, and widths come from a short list, so in 10,000 RegNetX samples two block copies in three
are ones an earlier sample already had (same kind, fields, copy position, input shape, shortcut).
Within `remembering_figures()`, the check's static twins are asked once per such copy, and a stem
or head layer's or a stage's figures once per (its entries as written, input shape, the spec's
shortcut default). Outside it nothing is remembered between checks, so that a check's cost (and
`benchmarks/`) is its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from archspec.blocks.base import BlockFacts, BlockStage, Shortcut, graph_facts
from archspec.shapes import Shape

# Copies and groups: some 30 MB at most. 10,000 RegNetX samples have some 25,000 distinct block copies.
MAX_REMEMBERED = 65_536

# A stem or head layer's or a stage's figures: output shape, parameters, MACs, its peak as a
# Sequential of its entries (activation values), and its modules' buffers (bytes).
GroupFacts = tuple[Shape, int, int, int, int]

_MEMO: ContextVar[dict[object, BlockFacts | GroupFacts | None] | None] = ContextVar("figures_memo", default=None)


@contextmanager
def remembering_figures(memo: dict[object, BlockFacts | GroupFacts | None] | None = None) -> Iterator[None]:
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
        return _facts(block, index, x, shortcut)
    return _remembered(memo, (key, x, shortcut), lambda: _facts(block, index, x, shortcut))


def _facts(block: BlockStage, index: int, x: Shape, shortcut: Shortcut) -> BlockFacts | None:
    found = block.facts(index, x, shortcut)
    if found is not None and len(found) == 4:
        # A kind registered from Python whose `facts` were written before the budget counted buffers
        # (output, parameters, MACs, peak): its graph's figures, which count them, are used instead.
        return graph_facts(block, index, x, shortcut)
    return found


def group_facts(entries: tuple[Any, ...], x: Shape, shortcut: Shortcut,
                figures: Callable[[tuple[Any, ...], Shape, Shortcut], GroupFacts | None]) -> GroupFacts | None:
    """`figures(entries, x, shortcut)` of a group of entries (a stem or head layer, a stage's entries whose names are
    not dotted), remembered by the entries themselves (frozen models, equal when their fields are),
    the input shape and the spec's shortcut default: all that the figures read."""
    memo = _MEMO.get()
    if memo is None:
        return figures(entries, x, shortcut)
    return _remembered(memo, ("group", entries, x, shortcut), lambda: figures(entries, x, shortcut))


def _remembered(memo: dict[object, Any], key: object, compute: Callable[[], Any]) -> Any:
    """`compute()`, remembered in `memo` under `key` (not where the key cannot be hashed: a mapping)."""
    try:
        return memo[key]
    except KeyError:
        pass
    except TypeError:
        return compute()
    found = memo[key] = compute()
    if len(memo) > MAX_REMEMBERED:
        memo.clear()
    return found
