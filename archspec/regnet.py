"""RegNet and AnyNet X stages (Radosavovic et al. 2020, "Designing Network Design Spaces"), as plain
data for archspec's built-in `bottleneck` block. Pure Python: no numpy, no torch.

`generate_regnet` is pycls's `generate_regnet` (torchvision's `BlockParams.from_init_params`): block
widths grow linearly (`w0 + wa * j`), are quantized in log space with step `wm` and rounded to
multiples of 8; each run of equal widths is a stage. `adjust_compatibility` is torchvision's
`_adjust_widths_groups_compatibilty`: the bottleneck width becomes a multiple of the group width.

An X block is a residual bottleneck: 1x1 to `inner = round(width / bottleneck_ratio)`, a 3x3 with
`inner / group_width` groups (the stride on it), 1x1 back to `width`. archspec's `bottleneck` block
computes its inner width as torchvision's ResNeXt does, `int(w * width_per_group / 64) * groups`,
and its output as `w * expansion`: `bottleneck_fields` finds the `width`, `expansion` and
`width_per_group` that give exactly the X block's channels. A divisor w <= 64 of the width always
fits (`w * wpg` then has a multiple of w in the window [64 g, 64 g + 64)), so every group-compatible
block is expressible, if at times only as an odd-looking one: 664 = 8 * 83 in groups of 8 is width
8, expansion 83, width_per_group 64. None (a rejected sample, never an approximation: a network
that merely resembles the sample would make its figures lie) only where the group width does not
divide the inner width or a count passes archspec's limit of 65,536.
"""

from __future__ import annotations

import math
from functools import lru_cache

from archspec.expr import make_divisible
from archspec.layers import MAX_COUNT

QUANTUM = 8  # RegNet widths are multiples of 8


def generate_regnet(w0: int, wa: float, wm: float, depth: int) -> tuple[list[int], list[int]]:
    """(stage widths, stage depths) of a RegNet, before `adjust_compatibility`."""
    log, log_wm = math.log, math.log(wm)
    quantized: dict[int, int] = {}  # step -> width: a handful of steps for up to 1,000 blocks
    counts: dict[int, int] = {}
    last_step, width = None, 0  # blocks in a row share a step: look it up only where it changes
    for j in range(depth):
        step = round(log((w0 + wa * j) / w0) / log_wm)  # numpy's round: half to even, as here
        if step != last_step:
            last_step, width = step, quantized.get(step, 0)
            if not width:
                width = quantized[step] = round(w0 * wm**step / QUANTUM) * QUANTUM
        counts[width] = counts.get(width, 0) + 1
    # np.unique: sorted unique widths and their counts (the widths never decrease: wa >= 0, wm > 1).
    stage_widths = sorted(counts)
    return stage_widths, [counts[width] for width in stage_widths]


def adjust_compatibility(width: int, bottleneck_ratio: float, group_width: int) -> tuple[int, int]:
    """torchvision's `_adjust_widths_groups_compatibilty` for one stage, with the ratio written as the
    paper does (b = width / inner; torchvision's `bottleneck_multiplier` is 1 / b): (width, group
    width) such that the inner width is a multiple of the group width. It rounds with
    `_make_divisible` (half up, never 10% down) where pycls rounds half to even: RegNetX-400MF's last
    stage is 400 wide in torchvision and 384 in pycls; torchvision's is the published network."""
    multiplier = 1 / bottleneck_ratio
    inner = int(width * multiplier)
    group_width = min(group_width, inner)
    return int(make_divisible(inner, group_width) / multiplier), group_width


def inner_width(width: int, bottleneck_ratio: float) -> int:
    """The X block's bottleneck width, as torchvision's `BottleneckTransform` computes it."""
    return round(width / bottleneck_ratio)


def bottleneck_fields(width: int, inner: int, group_width: int) -> dict[str, int] | None:
    """The `bottleneck` block's `width`, `expansion`, `groups` and `width_per_group` giving a block of
    `inner` channels in `inner // group_width` groups and `width` output channels; None if none do.

    The output is `w * expansion`, so `w` runs over the divisors of `width` (the largest first, so
    the plainest form wins: expansion 1 where it works); the 3x3 has `int(w * wpg / 64)` channels
    per group, so `wpg` must be a whole number in [64 g / w, 64 (g + 1) / w)."""
    found = _bottleneck_search(width, inner, group_width)
    return None if found is None else dict(zip(("width", "expansion", "groups", "width_per_group"), found))


@lru_cache(maxsize=65_536)  # a space's samples repeat their stages' widths
def _bottleneck_search(width: int, inner: int, group_width: int) -> tuple[int, int, int, int] | None:
    if group_width < 1 or inner % group_width:
        return None
    groups = inner // group_width
    for expansion in range(1, min(MAX_COUNT, width) + 1):
        if width % expansion:
            continue
        w = width // expansion
        per_group = -(-64 * group_width // w)  # the least whole wpg with w * wpg >= 64 g
        if w * per_group < 64 * (group_width + 1) and per_group <= MAX_COUNT:
            return w, expansion, groups, per_group
    return None
