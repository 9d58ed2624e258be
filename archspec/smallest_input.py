"""The smallest input a network takes, for the hint of an input too small for one of its windows.

A window (a convolution's or a pool's kernel) that does not fit its input says only "use a larger
input size". Where every problem of the check is such a window, the network is checked again at the
input's size doubled (and one more, for networks whose accepted sizes have gaps), until it passes;
from that check's graph, archspec.ranges finds the sizes at which every node has a valid shape, and
the hint names them and the nearest size the user can write. Nothing is claimed that was not checked:
the size suggested is checked once more, at the caller's memory budget.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from archspec.errors import SpecPath
from archspec.ranges import SCAN_BELOW, SIZE_LIMIT, find_input_range, joins_round_apart
from archspec.shapes import TOO_SMALL_HINT, Shape, show

if TYPE_CHECKING:
    from archspec.check import Report

Problem = tuple[SpecPath, str, "str | None"]  # (origin, message, hint), as the check collects them


def too_small_only(problems: Sequence[Problem]) -> bool:
    """Whether every problem is a window too large for its input: then a larger input may mend all."""
    return bool(problems) and all(hint == TOO_SMALL_HINT for _, _, hint in problems)


def smallest_input_hint(x: Shape, checks: Callable[[Shape, int | None], Report], own: Shape,
                        max_memory: int | None) -> str | None:
    """The hint for an input `x` too small for the network: the sizes it accepts and the nearest one
    to write (`--input` where `x` is not the spec's own input `own`, else `input:`); None where no
    size up to archspec's limit passes, or the range found could not be exact. `checks(shape,
    max_memory)` is the check without this hint: a report with `ok`, `nodes`, `resolved`."""
    found = None
    height, width = x[1], x[2]
    while found is None and max(height, width) < SIZE_LIMIT:
        height, width = min(2 * height, SIZE_LIMIT), min(2 * width, SIZE_LIMIT)
        # A network whose accepted sizes repeat with a period may take only odd (or only even) sizes.
        found = next((report for shape in ((x[0], height, width), (x[0], height + 1, width + 1))
                      if (report := checks(shape, None)).ok), None)
    if found is None:
        return None
    at = found.input_shape
    if max(at[1:]) > SCAN_BELOW + 1 and joins_round_apart(found.resolved):
        return None  # the sizes are scanned from SCAN_BELOW under `at` only: the smallest is not known
    accepted = find_input_range(found.nodes, found.resolved, at, same_module=False)
    sizes = [accepted.smallest_from(axis, size) for axis, size in enumerate(x[1:])]
    if None in sizes:
        return None
    suggested = (x[0], *sizes)
    if not checks(suggested, max_memory).ok:
        return None
    return (f"the network accepts {accepted.describe()}: {_write(suggested, x != own)} (or downsample less "
            "before this layer)")


def _write(shape: Shape, from_command: bool) -> str:
    if from_command:
        return f"try `--input {show(shape)}`"
    size = shape[1] if shape[1] == shape[2] else f"[{shape[1]}, {shape[2]}]"
    return f"write `input: {{channels: {shape[0]}, size: {size}}}`"


__all__ = ["smallest_input_hint", "too_small_only"]
