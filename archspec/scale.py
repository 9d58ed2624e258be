"""Scaling a spec: every stage's `repeats` times a depth factor, every channel count times a width
factor (EfficientNet's compound scaling, Ultralytics' n/s/m/l/x `scales`). Pure data, no torch.

The rules (README "Scaling" says where they agree with torchvision's EfficientNet and Ultralytics):
- repeats: ceil(repeats * depth), at least 1 (torchvision's `adjust_depth`);
- widths: torchvision's `_make_divisible(width * factor, divisor)`: the nearest multiple of the
  divisor, at least the divisor, and never more than 10% below width * factor;
- factors are computed exactly as written (0.33 is 33/100), so 50 x 1.1 repeats is 55, not the
  56 that the float 55.00000000000001 rounds up to.

What scales: each layer's `width` (conv, linear) and each channel field a block kind declares
(`channel_fields`: `width`, or an inception block's c1..c4), except the network's output: the last
layer or block that sets channels (the classifier's classes) keeps its widths, so a scaled network
has the same output shape. A block field that is a total of the others (an inception block's
optional `width`) is recomputed from the scaled ones. Kernels, strides, groups, expansions and the
input are never scaled.

A spec may name scales (`scales: {n: {depth: 0.33, width: 0.25}}`); `--scale n` applies one after
`--set` and `vars` are resolved (archspec/overrides.py); `archspec scale` rewrites the numbers in
the file's text in place, which keeps comments and layout.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from pydantic import ValidationError

from archspec._resolving import SCALE_OVERRIDE, SCALES  # noqa: F401  (SCALE_OVERRIDE: importable from here)
from archspec.blocks import BLOCKS
from archspec.errors import Diagnostic, SpecError, SpecPath, did_you_mean, format_path
from archspec.layers import LAYERS
from archspec.loader import Document, load_document

DEFAULT_DIVISOR = 8
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SCALE_KEYS = ("depth", "width", "divisor")
# A plain scalar as written in block or flow style, after its anchor if it has one (`&w 64`).
_FLOW_MAPPING = re.compile(r"(?:&[^\s,\[\]{}]+\s+)?\{\s*")  # `{` or `&name {`, and the spaces after it
_TOKEN = re.compile(r"(?:&[^\s,\[\]{}]+\s+)?([^\s,\[\]{}#]+)")
_QUOTED = re.compile(r"""(?:&[^\s,\[\]{}]+\s+)?("(?:[^"\\\n]|\\.)*"|'(?:[^'\n]|'')*')""")  # `"${w}"`

_FACTOR_SCHEMA = {"type": "number", "exclusiveMinimum": 0}
SCALES_SCHEMA = {
    "type": "object", "description": "named scales chosen with `--scale NAME`: repeats times `depth` "
    "(rounded up), channels times `width` (rounded to a multiple of `divisor`, default 8)",
    "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
    "additionalProperties": {"type": "object", "additionalProperties": False, "properties": {
        "depth": _FACTOR_SCHEMA, "width": _FACTOR_SCHEMA, "divisor": {"type": "integer", "minimum": 1}}}}


@dataclass(frozen=True)
class Scale:
    depth: Fraction = Fraction(1)
    width: Fraction = Fraction(1)
    divisor: int = DEFAULT_DIVISOR

    def describe(self) -> str:
        return f"depth {float(self.depth):g}, width {float(self.width):g}, divisor {self.divisor}"


@dataclass(frozen=True)
class Change:
    path: SpecPath
    old: Any  # a whole number when scaling; any scalar for `archspec scale --set`
    new: Any
    cause: str = "scaling"  # what errors name: scaling, or the override (`--set head[-1].width=10`)


def factor(value: object) -> Fraction | None:
    """A positive, finite factor as written (the float 0.33 is 33/100); None if it is not one.
    Text (the command line's) is read as a float first: Fraction would read `1/2`, and would compute
    `1e100000000` digit by digit, for minutes, where the float is simply infinite."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        value = float(value) if isinstance(value, str) else value
        exact = Fraction(repr(value) if isinstance(value, float) else str(value))
    except (ValueError, ZeroDivisionError):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return exact if exact > 0 else None


def scaled_width(channels: int, width: Fraction, divisor: int = DEFAULT_DIVISOR) -> int:
    """torchvision's `_make_divisible(channels * width, divisor)`, computed exactly."""
    value = channels * width
    new = max(divisor, int(value + Fraction(divisor, 2)) // divisor * divisor)
    if new < Fraction(9, 10) * value:  # rounding down must not lose more than 10%
        new += divisor
    return new


def scaled_repeats(repeats: int, depth: Fraction) -> int:
    """torchvision's `adjust_depth`: ceil(repeats * depth), computed exactly; at least 1."""
    return max(1, math.ceil(repeats * depth))


# ---- which values scale ----------------------------------------------------------------------

def _entries(data: dict[str, Any]) -> Iterator[tuple[SpecPath, dict[str, Any], Any]]:
    """(path, item, kind class) of every layer and block, in network order."""
    def kind(item: dict[str, Any]) -> Any:
        if item.get("layer") in LAYERS:
            return LAYERS[item["layer"]]
        if isinstance(item.get("block"), str):  # a kind defined in YAML scales its `width`
            from archspec.blocks.defined import DefinedStage  # not at import: `archspec check` never uses it

            return BLOCKS.get(item["block"], DefinedStage)
        return None

    def items(key: str) -> list[Any]:
        value = data.get(key)
        return value if isinstance(value, list) else []

    for index, layer in enumerate(items("stem")):
        if isinstance(layer, dict):
            yield ("stem", index), layer, kind(layer)
    for index, stage in enumerate(items("stages")):
        if isinstance(stage, dict) and isinstance(stage.get("blocks"), list):
            for position, item in enumerate(stage["blocks"]):
                if isinstance(item, dict):
                    yield ("stages", index, "blocks", position), item, kind(item)
        elif isinstance(stage, dict):
            yield ("stages", index), stage, kind(stage)
    for index, layer in enumerate(items("head")):
        if isinstance(layer, dict):
            yield ("head", index), layer, kind(layer)


def channel_fields(kind: Any) -> tuple[str, ...]:
    """The fields of a layer or block kind that are channel counts: a block kind declares them
    (`channel_fields`); a layer's is its `width` (conv's output channels, linear's features)."""
    if kind is None:
        return ()
    declared = getattr(kind, "channel_fields", None)
    if declared is not None:
        return tuple(declared)
    return ("width",) if "width" in kind.model_fields else ()


def _counts(value: object, path: SpecPath) -> Iterator[tuple[SpecPath, int]]:
    """The whole numbers of a channel field: one, or a list such as an inception branch's [reduce, out]."""
    if isinstance(value, int) and not isinstance(value, bool):
        yield path, value
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, int) and not isinstance(item, bool):
                yield (*path, index), item


def changes(data: dict[str, Any], scale: Scale) -> list[Change]:
    """Every value `scale` changes in plain, resolved spec data (unchanged values are left out)."""
    entries = list(_entries(data))
    sets_channels = [i for i, (_, item, kind) in enumerate(entries) if any(f in item for f in channel_fields(kind))]
    output = sets_channels[-1] if sets_channels else None
    found: list[Change] = []
    for number, (path, item, kind) in enumerate(entries):
        if "block" in item and isinstance(item.get("repeats", 1), int):
            repeats = item.get("repeats", 1)
            found.append(Change((*path, "repeats"), repeats, scaled_repeats(repeats, scale.depth)))
        if number == output:
            continue  # the network's output channels (its classes) never scale
        fields = channel_fields(kind)
        widths = [Change(where, count, scaled_width(count, scale.width, scale.divisor))
                  for name in fields if name in item for where, count in _counts(item[name], (*path, name))]
        found.extend(widths)
        if "block" in item and "width" not in fields and isinstance(item.get("width"), int):
            total = _total_width(kind, item, widths, len(path))
            if total is not None:
                found.append(Change((*path, "width"), item["width"], total))
    return [change for change in found if change.new != change.old]


def _total_width(kind: Any, item: dict[str, Any], widths: list[Change], depth: int) -> int | None:
    """A block's `width` that totals its channel fields (inception's c1 + c2[1] + c3[1] + c4), as
    the block kind computes it from the scaled fields; None where they do not validate."""
    scaled = apply({key: value for key, value in item.items() if key != "width"},
                   [Change(change.path[depth:], change.old, change.new) for change in widths])
    try:
        return kind.model_validate(scaled).out_width()
    except ValidationError:
        return None  # the spec's validation reports it


def apply(data: Any, found: list[Change]) -> Any:
    """A copy of `data` with each change made."""
    copied = _copy(data)
    for change in found:
        target = copied
        for part in change.path[:-1]:
            target = target[part]
        target[change.path[-1]] = change.new
    return copied


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


# ---- named scales ----------------------------------------------------------------------------

def read_scales(data: dict[str, Any], document: Document) -> tuple[dict[str, Scale], list[Diagnostic]]:
    """The spec's `scales` (none if it has none) and the problems with them."""
    written = data.get(SCALES, {})
    if not isinstance(written, dict):
        return {}, [document.diagnostic((SCALES,), "expected a mapping of scale names to factors, "
                                        "e.g. `scales: {n: {depth: 0.33, width: 0.25}}`")]
    scales: dict[str, Scale] = {}
    errors: list[Diagnostic] = []
    for name, entry in written.items():
        where = (SCALES, name)
        if not _NAME.fullmatch(name):
            errors.append(document.diagnostic(where, f"expected a scale name of letters, digits and `_`, "
                                              f"found `{name}`", at_key=True))
            continue
        if not isinstance(entry, dict):
            errors.append(document.diagnostic(where, "expected a mapping such as `{depth: 0.33, width: 0.25}`"))
            continue
        values: dict[str, Any] = {}
        for key, value in entry.items():
            if key not in _SCALE_KEYS:
                errors.append(document.diagnostic((*where, key), f"unknown key `{key}`", did_you_mean(
                    key, _SCALE_KEYS) or f"a scale has {', '.join(_SCALE_KEYS)}", at_key=True))
            elif key == "divisor" and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                errors.append(document.diagnostic((*where, key), f"expected a whole number of at least 1, "
                                                  f"found {_text(value)}"))
            elif key != "divisor" and (isinstance(value, str) or factor(value) is None):  # as the schema: a number
                shown = json.dumps(value) if isinstance(value, str) else _text(value)
                errors.append(document.diagnostic((*where, key), f"expected a positive number, found {shown}",
                                                  f"e.g. `{key}: 0.5` halves, `{key}: 2` doubles"))
            else:
                values[key] = value if key == "divisor" else factor(value)
        scales[name] = Scale(**values)
    return scales, errors


def choose(data: dict[str, Any], name: object, document: Document) -> tuple[dict[str, Any], list[Diagnostic]]:
    """`data` without its `scales`, scaled by the one named (None: unscaled), and the problems."""
    scales, errors = read_scales(data, document)
    data = {key: value for key, value in data.items() if key != SCALES}
    if name is None or errors:
        return data, errors
    if name not in scales:
        known = ", ".join(scales)
        message = f"the spec has no scale `{name}`" + (f"; its scales are {known}" if known else "")
        hint = did_you_mean(str(name), scales) or (f"choose one of {known}" if known else
                                                   "add `scales: {s: {depth: 0.33, width: 0.5}}` to the spec")
        where: SpecPath = (SCALES,) if SCALES in document.marks or known else ()
        return data, [document.diagnostic(where, message, hint, at_key=True)]
    return apply(data, changes(data, scales[name])), []


# ---- rewriting a file's text -----------------------------------------------------------------

def rewrite(document: Document, found: list[Change]) -> str:
    """The document's text with each changed number replaced where it is written; SpecError (every
    problem) where a value is not a number written in the file (an expression, a default, a
    value shared through a YAML alias by places that scale differently)."""
    starts = [0]
    for line in document.text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    spans: dict[tuple[int, int], tuple[str, SpecPath]] = {}
    errors: list[Diagnostic] = []
    for change in found:
        edit = _edit(document, change, starts)
        if isinstance(edit, Diagnostic):
            errors.append(edit)
        elif edit[0] in spans and spans[edit[0]][0] != edit[1]:
            errors.append(document.diagnostic(change.path, (
                f"this value is shared through a YAML alias with `{format_path(spans[edit[0]][1])}`, which "
                f"scales to {spans[edit[0]][0]}, not {change.new}"), "write the two values separately"))
        else:
            spans[edit[0]] = (edit[1], change.path)
    if errors:
        raise SpecError(errors)
    text = document.text
    for (start, end), (new, _) in sorted(spans.items(), reverse=True):
        text = text[:start] + new + text[end:]
    return text


def _edit(document: Document, change: Change, starts: list[int]) -> tuple[tuple[int, int], str] | Diagnostic:
    """(span of the text, its new text) for one change, or why it cannot be written in place."""
    if change.path[-1] == "repeats" and change.path not in document.marks:
        return _inserted_repeats(document, change, starts)
    problem = _problem(document, change)
    if problem is not None:
        return document.diagnostic(change.path, *problem)
    line, column = document.marks[change.path]
    token = _QUOTED.match(document.text, starts[line] + column) or _TOKEN.match(document.text, starts[line] + column)
    if token is None or not _same(_read(token.group(1)), change.old):
        return document.diagnostic(change.path, f"{_by(change)}cannot rewrite the value written here as "
                                   f"{_text(change.new)}", "write the value plainly, e.g. `width: 64`")
    return (token.start(1), token.end(1)), _text(change.new)


def _inserted_repeats(document: Document, change: Change,
                      starts: list[int]) -> tuple[tuple[int, int], str] | Diagnostic:
    """`repeats: N` written into a block that leaves it at its default 1: after its `block: kind`
    (a new line at the key's indentation in block style), or first in a flow mapping that does
    not write its kind (it merges it: `{<<: *inception, ...}`)."""
    stage, kind = change.path[:-1], (*change.path[:-1], "block")
    line, column = document.marks.get(stage, (0, 0))
    opening = _FLOW_MAPPING.match(document.text, starts[line] + column)
    if kind in document.key_marks:
        line, column = document.marks[kind]
        token = _TOKEN.match(document.text, starts[line] + column)
        if token is not None:
            indent = document.key_marks[kind][1]
            written = f", repeats: {change.new}" if opening else f"\n{' ' * indent}repeats: {change.new}"
            return (token.end(1), token.end(1)), written
    elif opening:
        return (opening.end(), opening.end()), f"repeats: {change.new}, "
    return document.diagnostic(change.path, f"{change.cause} makes `repeats` {change.new} here, but the file "
                               "does not write it", f"write `repeats: {change.old}` here first")


def _problem(document: Document, change: Change) -> tuple[str, str] | None:
    """Why a change cannot be written in place (None when it can)."""
    raw: Any = document.data
    for part in change.path:
        if (isinstance(raw, dict) and part in raw) or (isinstance(raw, list) and isinstance(part, int)
                                                        and 0 <= part < len(raw)):
            raw = raw[part]
        else:
            field_name = change.path[-1]
            return (f"{change.cause} makes `{field_name}` {_text(change.new)} here, but the file does not write it",
                    f"write `{field_name}: {_text(change.old)}` here first" if change.old is not None else
                    f"write `{field_name}` here first")
    if isinstance(raw, str) and change.cause == "scaling":
        return (f"`{raw}` is an expression: `archspec scale` rewrites numbers written in the file",
                ("write the number here, or name the scale under `scales:` and use `--scale NAME`, "
                 "which scales values after vars and expressions are resolved"))
    if isinstance(raw, (dict, list)):
        return f"{_by(change)}`archspec scale` writes single values in place, not a list or mapping", (
            "edit the file, or give the override to `check`, `compile` or `train`")
    if change.path not in document.marks:
        return f"{_by(change)}this value is not written in the file", "write it"
    return None


def _by(change: Change) -> str:
    return "" if change.cause == "scaling" else f"{change.cause}: "


_MISSING = object()
_INDICATORS = re.compile(r"""[,\[\]{}#:&*!|>'"%@`]""")  # what may end or change a plain scalar in flow style


def _read(token: str) -> object:
    """The scalar a token of the file's text reads as (_MISSING where it is not one)."""
    try:
        value = load_document(token + "\n").data
    except SpecError:
        return _MISSING
    return _MISSING if isinstance(value, (dict, list)) else value


def _same(read: object, value: object) -> bool:
    """Equal and of one type: the token `64.0` is not the whole number 64, nor `true` the number 1."""
    return type(read) is type(value) and read == value


def _text(value: object) -> str:
    """A scalar as YAML text that reads back as it in block and flow collections alike: plain where
    that is so (no indicator character), else JSON, whose strings are valid double-quoted YAML."""
    plain = str(value) if isinstance(value, (int, float, str)) and not isinstance(value, bool) else None
    if plain is not None and not _INDICATORS.search(plain) and plain == plain.strip() and _same(_read(plain), value):
        return plain
    return json.dumps(value)
