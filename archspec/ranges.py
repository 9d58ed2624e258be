"""The input sizes a compiled network accepts, derived from its lowered graph.

The module built for the spec's input has fixed channel and feature counts; a different input size
works if every node still has a valid shape *and* no layer would need other parameters (a linear layer
after `flatten` fixes the feature count, so only sizes giving the same flattened size fit). Height and
width are searched independently: every layer treats them separately.

Along one axis, each layer's output size grows with its input size, so the sizes a chain of layers
accepts have no gaps: a binary search finds their ends. A join breaks that where its inputs come
through paths that round a size differently (a 2x2 max pool of stride 2 gives the floor of half, a 3x3
convolution of stride 2 and padding 1 the ceiling): it accepts only the sizes where both agree, which
repeat with a period (here every even size). So every block that changes the size is also evaluated
at the next sizes of its own input, up to its stride; where one fails there, the sizes are scanned one
by one and described by their period and the remainders that work.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from archspec.graph import Evaluator, Node, Resolved, walk
from archspec.shapes import Shape

SIZE_LIMIT = 1 << 16  # beyond this an input is absurd; a network valid here has no upper bound
PERIOD_LIMIT = 64  # the longest period of accepted sizes searched (the product of a network's strides)
PROBED_STRIDE = 8  # a block is evaluated at most this many sizes of its input: its own stride's worth
SCAN_BELOW = 1024  # a scan starts at most this far below the spec's size (larger specs: slower scans)


@dataclass(frozen=True)
class InputRange:
    channels: int
    min_size: tuple[int, int]
    max_size: tuple[int | None, int | None]  # None: no upper bound
    # Per axis, the sizes that work repeat with `period` (1: every size between the ends): a size works
    # where its remainder divided by the period is one of `remainders`.
    period: tuple[int, int] = (1, 1)
    remainders: tuple[tuple[int, ...], tuple[int, ...]] = ((0,), (0,))

    def accepts(self, height: int, width: int) -> bool:
        return all(low <= size and (high is None or size <= high) and size % period in remainders
                   for size, low, high, period, remainders in zip(
                       (height, width), self.min_size, self.max_size, self.period, self.remainders))

    def smallest_from(self, axis: int, size: int) -> int | None:
        """The smallest accepted size along `axis` (0: height, 1: width) that is at least `size`."""
        low, high, period = self.min_size[axis], self.max_size[axis], self.period[axis]
        start = max(size, low)
        found = next(candidate for candidate in range(start, start + period)
                     if candidate % period in self.remainders[axis])
        return found if high is None or found <= high else None

    def describe(self) -> str:
        axes = [_describe_axis(name, low, high, period, remainders) for name, low, high, period, remainders
                in zip("HW", self.min_size, self.max_size, self.period, self.remainders)]
        return f"{self.channels}xHxW with {axes[0]}, {axes[1]}"

    def to_json(self) -> dict[str, object]:
        return {"channels": self.channels, "min_size": list(self.min_size),
                "max_size": list(self.max_size), "period": list(self.period),
                "remainders": [list(remainders) for remainders in self.remainders], "text": self.describe()}


def _describe_axis(name: str, low: int, high: int | None, period: int, remainders: tuple[int, ...]) -> str:
    text = f"{name} >= {low}" if high is None else (f"{name} {low}" if low == high else f"{name} {low}..{high}")
    if period == 1 or low == high:
        return text
    which = f"== {remainders[0]}" if len(remainders) == 1 else f"in {{{', '.join(map(str, remainders))}}}"
    return f"{text} and {name} % {period} {which}"


@dataclass(frozen=True)
class _Axis:
    low: int
    high: int | None
    period: int = 1
    remainders: tuple[int, ...] = (0,)


def find_input_range(nodes: Sequence[Node], resolved: Sequence[Resolved], x: Shape,
                     same_module: bool = True) -> InputRange:
    """The sizes at which `nodes` (checked at `x`) have valid shapes; with `same_module`, only those
    where every layer also keeps its parameters (the module built for `x` runs them), else also those
    where a `linear` after `flatten` takes another number of features (the spec checks there)."""
    reference = _layer_params(resolved)

    def works(height: int, width: int) -> bool:
        evaluator = Evaluator()
        result = evaluator.run_all(tuple(nodes), (x[0], height, width), "")
        return result is not None and not evaluator.problems and (
            not same_module or _layer_params(result) == reference)

    height, width = x[1], x[2]
    search = _scanned_axis if joins_round_apart(resolved) else _searched_axis
    h_axis = search(lambda size: works(size, width), height)
    # Every rule treats height and width alike, so with a square input and layers whose settings are
    # the same on both axes, works(h, W) == works(W, h): the width's range is the height's.
    w_axis = h_axis if height == width and _symmetric(resolved) else search(
        lambda size: works(height, size), width)
    return InputRange(x[0], (h_axis.low, w_axis.low), (h_axis.high, w_axis.high),
                      (h_axis.period, w_axis.period), (h_axis.remainders, w_axis.remainders))


def _layer_params(resolved: Sequence[Resolved]) -> list[int]:
    return [r.params for top in resolved for _, r in walk(top) if not r.children]


def _symmetric(resolved: Sequence[Resolved]) -> bool:
    """True if no layer has a setting that differs between the axes, such as `kernel: [1, 7]`."""
    return not any(isinstance(value, tuple) and len(value) == 2 and value[0] != value[1]
                   for top in resolved for _, r in walk(top) if not r.children
                   for value in vars(r.node.payload).values())


def joins_round_apart(resolved: Sequence[Resolved]) -> bool:
    """Whether a block that changes the size fails at one of the next sizes of its input, up to its
    stride (where its output grows by one): there its joins' inputs disagree, so the sizes the network
    accepts have gaps. Chains (stages, `nn.Sequential`s) have no joins: their blocks are probed."""
    pending = list(resolved)
    while pending:
        node = pending.pop()
        if not node.children:
            continue
        if node.node.op == "block" and node.node.payload.sequential:
            pending.extend(node.children)
            continue
        channels, height, width = node.in_shape
        _, out_height, out_width = node.out_shape
        probes = [(channels, height + step, width) for step in range(1, _stride(height, out_height))]
        probes += [(channels, height, width + step) for step in range(1, _stride(width, out_width))]
        for shape in probes:
            evaluator = Evaluator()
            if evaluator.run(node.node, shape) is None or evaluator.problems:
                return True
    return False


def _stride(size: int, out: int) -> int:
    return min(math.ceil(size / out), PROBED_STRIDE) if out > 0 else 1


def _searched_axis(works: Callable[[int], bool], declared: int) -> _Axis:
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
        return _Axis(smallest, None)
    good, step = declared, 1
    while declared + step < SIZE_LIMIT and works(declared + step):
        good, step = declared + step, step * 2
    bad = min(declared + step, SIZE_LIMIT)
    while bad - good > 1:
        middle = (good + bad) // 2
        good, bad = (middle, bad) if works(middle) else (good, middle)
    return _Axis(smallest, good)


def _scanned_axis(works: Callable[[int], bool], declared: int) -> _Axis:
    """The accepted sizes along one axis where they have gaps: every size from 1 (or SCAN_BELOW under
    the spec's) to two periods past the spec's is tried, and the shortest period (a power of two up to
    PERIOD_LIMIT) that the sizes past the spec's repeat with describes them. Never claims a size that
    fails: where the sizes below the spec's do not follow the period, the range starts higher."""
    first, last = max(1, declared - SCAN_BELOW), declared + 2 * PERIOD_LIMIT
    accepted = {size for size in range(first, last + 1) if works(size)}
    window = range(declared, declared + PERIOD_LIMIT)
    period = next((p for p in (1, 2, 4, 8, 16, 32, 64) if all((s in accepted) == (s + p in accepted)
                                                              for s in window)), None)
    if period is None:  # no period: the run of sizes around the spec's, which is sound
        low = high = declared
        while low - 1 >= first and low - 1 in accepted:
            low -= 1
        while high + 1 <= last and high + 1 in accepted:
            high += 1
        return _Axis(low, high)
    remainders = tuple(sorted({size % period for size in range(declared, declared + period) if size in accepted}))
    low = declared
    for size in range(declared - 1, first - 1, -1):  # down while the sizes keep to the period
        if (size in accepted) != (size % period in remainders):
            break
        if size in accepted:
            low = size
    if any(size in accepted for size in range(last - period + 1, last + 1)):
        top = SIZE_LIMIT - next(step for step in range(period) if (SIZE_LIMIT - step) % period in remainders)
        high = None if works(top) else max(accepted)
    else:
        high = max(accepted)
    return _Axis(low, high, period, remainders)
