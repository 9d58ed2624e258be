"""Strategies for stages of the standard library's block kinds (archspec/library/*.yaml).

Every library kind is drawn as a stage like a built-in one (`width`, `repeats`, `stride`, `shortcut`)
with random values of its own fields. The kinds and their fields are read from the library itself,
so a kind added there is drawn from the day it ships, with no edit here: a field's values are drawn
from its default's type (an integer near it, a float scaled from it, a boolean, a layer kind where
the default names one). A drawn stage is kept where both the reference's independent reading of the
definition (archspec.testing.reference_defined) and archspec's check accept it at its input; else the
stage falls back to the kind's defaults, then to a stride-1 copy that keeps the width, then to None.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from hypothesis import strategies as st

from archspec.testing.kinds import Draw, Knobs, checked_shape, maybe, shape_keeping_layers
from archspec.testing.reference import Refused, Shape, trace
from archspec.testing.reference_defined import library_definitions


@cache
def library_block_kinds() -> tuple[str, ...]:
    """Every block kind of the standard library, as archspec reads it."""
    from archspec.library import library_kinds

    return tuple(sorted(library_kinds()))


def field_values(default: Any, max_width: int) -> st.SearchStrategy[Any]:
    """Values for a field from its default: the same type, near it."""
    if isinstance(default, bool):
        return st.booleans()
    if isinstance(default, int):
        return st.integers(min(default, 1), max(default, 4))
    if isinstance(default, float):
        return st.sampled_from([0.0, 0.1, 0.5] if default == 0 else [default, default * 2, default / 2])
    if isinstance(default, str) and default.startswith("${"):  # a count written as an expression
        return st.integers(1, max_width)
    if default in shape_keeping_layers():
        return st.sampled_from(shape_keeping_layers())
    return st.just(default)


def _accepted(entry: dict, x: Shape, knobs: Knobs) -> bool:
    """The reference and archspec both accept the stage at input `x`."""
    document = {"input": {"channels": x[0], "size": list(x[1:])}, "shortcut": knobs.default_shortcut,
                "stages": [entry]}
    try:
        trace(document)
        checked_shape(entry, x, knobs.default_shortcut, ())
    except Refused:
        return False
    return True


def draw_library_stage(draw: Draw, x: Shape, knobs: Knobs, kind: str, tries: int = 5) -> dict | None:
    """A stage of the library kind `kind` valid for input `x`; None where none is. Up to `tries`
    drawn stages (some kinds fit only some widths: RegNet's group width must divide them), then the
    kind's defaults at the last drawn width, then a stride-1 copy that keeps the input's width."""
    entry: dict = {}
    for _ in range(tries):
        entry = {"block": kind, "width": x[0] if draw(st.integers(0, 2)) == 0 else
                 draw(st.integers(1, knobs.max_width))}
        maybe(draw, entry, "repeats", st.integers(1, knobs.max_repeats))
        maybe(draw, entry, "stride", st.sampled_from([1, 2]))
        maybe(draw, entry, "shortcut", st.sampled_from(knobs.shortcuts))
        for name, default in library_definitions()[kind].get("fields", {}).items():
            maybe(draw, entry, name, field_values(default, knobs.max_width))
        if _accepted(entry, x, knobs):
            return entry
    plain = {key: entry[key] for key in ("block", "width", "repeats", "stride") if key in entry}
    if _accepted(plain, x, knobs):  # the kind's own defaults
        return plain
    kept = {**plain, "width": x[0], "stride": 1}
    return kept if _accepted(kept, x, knobs) else None


__all__ = ["draw_library_stage", "field_values", "library_block_kinds"]
