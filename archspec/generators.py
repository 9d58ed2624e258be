"""Generators of a design space: mappings that expand into stages once the space's values are drawn.

    stages: {regnet: {w0: 24, wa: 24.48, wm: 2.54, depth: 22, group_width: 16}}
    stages: [{x_stage: {width: 64, depth: 2, bottleneck_ratio: 1, group_width: 16}}, ...]

`regnet` is RegNet's quantized linear rule (archspec.regnet.generate_regnet): its stages, one
`x_stage` each. `x_stage` is one AnyNet X stage: `depth` residual bottleneck blocks of output
`width`, bottleneck ratio b (inner width = width / b), `group_width` channels per group, `stride` on
the first block's 3x3 (default 2). Its width is made compatible with the group width first, as
torchvision does. It becomes archspec's built-in `bottleneck` block (see `bottleneck_fields`), or a
`Inexpressible` when that block cannot hold it exactly.
"""

from __future__ import annotations

from typing import Any

from archspec.errors import SpecPath, did_you_mean, format_path
from archspec.regnet import adjust_compatibility, bottleneck_fields, generate_regnet, inner_width

# field: (required, whole number, least value)
_FIELDS: dict[str, dict[str, tuple[bool, bool, float]]] = {
    "regnet": {"w0": (True, True, 8), "wa": (True, False, 0), "wm": (True, False, 1), "depth": (True, True, 1),
               "group_width": (True, True, 1), "bottleneck_ratio": (False, False, 0), "stride": (False, True, 1)},
    "x_stage": {"width": (True, True, 1), "depth": (True, True, 1), "bottleneck_ratio": (False, False, 0),
                "group_width": (False, True, 1), "stride": (False, True, 1), "name": (False, False, 0)},
}
GENERATORS = tuple(_FIELDS)
MAX_DEPTH = 1_000  # blocks of one generator: a stage's `repeats` limit


class GeneratorError(Exception):
    """A generator written wrong: (path, message, hint)."""

    def __init__(self, path: SpecPath, message: str, hint: str | None = None):
        super().__init__(message)
        self.path, self.message, self.hint = path, message, hint


class Inexpressible(Exception):
    """A drawn stage that archspec's `bottleneck` block cannot express exactly: a rejected sample."""


def expand(data: dict[str, Any]) -> dict[str, Any]:
    """`data` with its generators expanded (the same object when it has none)."""
    stages = data.get("stages")
    if isinstance(stages, dict) and "regnet" in stages:
        return {**data, "stages": _regnet(_fields("regnet", stages, ("stages",)), ("stages", "regnet"))}
    if isinstance(stages, list) and any(isinstance(s, dict) and "x_stage" in s for s in stages):
        expanded = [_x_stage(_fields("x_stage", stage, ("stages", index)), ("stages", index, "x_stage"))
                    if isinstance(stage, dict) and "x_stage" in stage else stage
                    for index, stage in enumerate(stages)]
        return {**data, "stages": expanded}
    return data


def _fields(kind: str, written: dict[str, Any], path: SpecPath) -> dict[str, Any]:
    if len(written) != 1:
        other = next(key for key in written if key != kind)
        raise GeneratorError((*path, other), f"expected `{kind}` alone in its mapping, found `{other}` beside it",
                             f"move `{other}` into `{kind}:`" if other in _FIELDS[kind] else None)
    fields = written[kind]
    path = (*path, kind)
    if not isinstance(fields, dict):
        raise GeneratorError(path, f"expected a mapping of {', '.join(_FIELDS[kind])} after `{kind}:`")
    for key in fields:
        if key not in _FIELDS[kind]:
            raise GeneratorError((*path, key), f"`{kind}` has no field `{key}`",
                                 did_you_mean(key, _FIELDS[kind]) or f"fields: {', '.join(_FIELDS[kind])}")
    for key, (required, whole, least) in _FIELDS[kind].items():
        if key not in fields:
            if required:
                raise GeneratorError(path, f"`{kind}` needs `{key}`", f"fields: {', '.join(_FIELDS[kind])}")
            continue
        value = fields[key]
        if key == "name":
            continue  # a stage name: validated where the stage is
        number = isinstance(value, int if whole else (int, float)) and not isinstance(value, bool)
        if not number or value < least or (key in ("wm", "bottleneck_ratio") and value <= least):
            what = "a whole number" if whole else "a number"
            bound = f"greater than {least}" if key in ("wm", "bottleneck_ratio") else f"at least {least}"
            raise GeneratorError((*path, key), f"expected {what} {bound}, found {value!r}")
    return fields


def _regnet(fields: dict[str, Any], path: SpecPath) -> list[dict[str, Any]]:
    if fields["w0"] % 8:
        raise GeneratorError((*path, "w0"), f"expected a multiple of 8, found {fields['w0']}",
                             "RegNet widths are multiples of 8: `{log_int: [8, 256, 8]}`")
    if fields["depth"] > MAX_DEPTH:
        raise GeneratorError((*path, "depth"), f"expected at most {MAX_DEPTH} blocks, found {fields['depth']}")
    widths, depths = generate_regnet(fields["w0"], fields["wa"], fields["wm"], fields["depth"])
    shared = {key: fields[key] for key in ("bottleneck_ratio", "group_width", "stride") if key in fields}
    return [_x_stage({"width": width, "depth": depth, **shared}, path) for width, depth in zip(widths, depths)]


def _x_stage(fields: dict[str, Any], path: SpecPath) -> dict[str, Any]:
    ratio = fields.get("bottleneck_ratio", 1)
    width, group_width = adjust_compatibility(fields["width"], ratio, fields.get("group_width", 1))
    block = bottleneck_fields(width, inner_width(width, ratio), group_width)
    if width < 1 or block is None:
        raise Inexpressible(f"{format_path(path)}: width {width}, bottleneck ratio {ratio}, group width "
                            f"{group_width}: no `bottleneck` block has exactly these channels")
    named = {"name": fields["name"]} if "name" in fields else {}
    return {**named, "block": "bottleneck", **block, "repeats": fields["depth"], "stride": fields.get("stride", 2)}

