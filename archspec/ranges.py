"""The input sizes a compiled network accepts, derived from its lowered graph.

The module built for the spec's input has fixed channel and feature counts; a different input size
works if every node still has a valid shape *and* no layer would need other parameters (a linear layer
after `flatten` fixes the feature count, so only sizes giving the same flattened size fit). Height and
width are searched independently: every layer treats them separately.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from archspec.graph import Evaluator, Node, Resolved, walk
from archspec.shapes import Shape

SIZE_LIMIT = 1 << 16  # beyond this an input is absurd; a network valid here has no upper bound


@dataclass(frozen=True)
class InputRange:
    channels: int
    min_size: tuple[int, int]
    max_size: tuple[int | None, int | None]  # None: no upper bound

    def accepts(self, height: int, width: int) -> bool:
        return all(low <= size and (high is None or size <= high)
                   for size, low, high in zip((height, width), self.min_size, self.max_size))

    def describe(self) -> str:
        (h_lo, w_lo), (h_hi, w_hi) = self.min_size, self.max_size
        if h_hi is None and w_hi is None:
            return f"{self.channels}xHxW with H >= {h_lo}, W >= {w_lo}"
        def span(low: int, high: int | None) -> str:
            return f">= {low}" if high is None else (str(low) if low == high else f"{low}..{high}")
        return f"{self.channels}xHxW with H {span(h_lo, h_hi)}, W {span(w_lo, w_hi)}"

    def to_json(self) -> dict[str, object]:
        return {"channels": self.channels, "min_size": list(self.min_size),
                "max_size": list(self.max_size), "text": self.describe()}


def find_input_range(nodes: Sequence[Node], resolved: Sequence[Resolved], x: Shape) -> InputRange:
    reference = _layer_params(resolved)

    def works(height: int, width: int) -> bool:
        evaluator = Evaluator()
        result = evaluator.run_all(tuple(nodes), (x[0], height, width), "")
        return result is not None and not evaluator.problems and _layer_params(result) == reference

    height, width = x[1], x[2]
    h_range = _axis_range(lambda size: works(size, width), height)
    # Every rule treats height and width alike, so with a square input and layers whose settings are
    # the same on both axes, works(h, W) == works(W, h): the width's range is the height's.
    w_range = h_range if height == width and _symmetric(resolved) else _axis_range(
        lambda size: works(height, size), width)
    return InputRange(x[0], (h_range[0], w_range[0]), (h_range[1], w_range[1]))


def _layer_params(resolved: Sequence[Resolved]) -> list[int]:
    return [r.params for top in resolved for _, r in walk(top) if not r.children]


def _symmetric(resolved: Sequence[Resolved]) -> bool:
    """True if no layer has a setting that differs between the axes, such as `kernel: [1, 7]`."""
    return not any(isinstance(value, tuple) and len(value) == 2 and value[0] != value[1]
                   for top in resolved for _, r in walk(top) if not r.children
                   for value in vars(r.node.payload).values())


def _axis_range(works: Callable[[int], bool], declared: int) -> tuple[int, int | None]:
    """Smallest and largest accepted size along one axis (valid sizes form an interval: every
    layer's output size grows monotonically with its input size)."""
    low, high = 1, declared  # `declared` works: the spec checked there
    if works(1):  # networks that pool globally accept any size: one probe instead of a search
        high = 1
    while low < high:
        middle = (low + high) // 2
        low, high = (low, middle) if works(middle) else (middle + 1, high)
    smallest = low
    if works(SIZE_LIMIT):
        return smallest, None
    good, step = declared, 1
    while declared + step < SIZE_LIMIT and works(declared + step):
        good, step = declared + step, step * 2
    bad = min(declared + step, SIZE_LIMIT)
    while bad - good > 1:
        middle = (good + bad) // 2
        good, bad = (middle, bad) if works(middle) else (good, middle)
    return smallest, good
