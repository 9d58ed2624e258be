"""An override as given: `PATH=VALUE` read (the value as YAML) or a Python mapping checked for plain
data, and the steps along a path (`head[-1].width`) with the reason a step cannot be taken. The
resolve pass (archspec/overrides.py) applies them."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from archspec.errors import SpecError, SpecPath, did_you_mean, format_path
from archspec.loader import load_document
from archspec.scale import SCALE_OVERRIDE

_PATH_PART = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_]*)|\[(-?)(\d+)\]")
_BEYOND_ANY_LIST = 10**18  # an index with more digits is out of range: said so, without reading it
_PLAIN_SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class Override:
    """One `PATH=VALUE`: `value` is plain data (YAML-read on the command line); `problem` says why the
    value could not be read, reported with the spec's other errors."""

    path: str
    value: object
    label: str  # how errors name it: `--set head[-1].width=10`
    problem: tuple[str, str | None] | None = None  # (message, hint)


@lru_cache(maxsize=1024)  # an Override is immutable, and its value is copied where it is applied
def parse_set(text: str) -> Override:
    """`head[-1].width=10` -> Override("head[-1].width", 10); the value is read as YAML."""
    path, _, value_text = text.partition("=")
    label = f"--scale {value_text}" if path == SCALE_OVERRIDE else f"--set {text}"
    if not value_text.strip():
        return Override(path.strip(), None, label)
    try:
        value = load_document(value_text + "\n").data
    except SpecError as error:
        problem = error.errors[0]
        unprintable = "expected printable text" in problem.message  # quoting does not help there
        return Override(path.strip(), None, label, (f"the value is not valid YAML ({problem.message})",
                                                    problem.hint if unprintable else
                                                    f"quote it: {path.strip()}='{value_text}'"))
    return Override(path.strip(), value, label)


def to_overrides(given: Mapping[str, object] | Sequence[str] | None,
                 kind: str = "override") -> tuple[Override, ...]:
    """Overrides from a mapping {path: value} (Python values) or `PATH=VALUE` strings (YAML values);
    `kind` names the mapping's in errors."""
    if not given:
        return ()
    if isinstance(given, Mapping):
        return tuple(Override(str(path), value, f"{kind} {path}={short_repr(value)}",
                              (problem, None) if (problem := _not_plain(value)) else None)
                     for path, value in given.items())
    if isinstance(given, str):
        raise TypeError("overrides: expected a mapping {path: value} or a list of 'PATH=VALUE' strings, "
                        f"found the string {given!r}")
    strange = next((text for text in given if not isinstance(text, str)), None)
    if strange is not None:
        raise TypeError(f"overrides: expected 'PATH=VALUE' strings in the list, found {strange!r}; or "
                        "pass a mapping {path: value}")
    return tuple(parse_set(text) for text in given)


def _too_long(number: int) -> bool:
    """Whether Python refuses to write `number` in decimal (sys.get_int_max_str_digits)."""
    try:
        str(number)
    except ValueError:
        return True
    return False


def short_repr(value: object) -> str:
    try:
        text = repr(value)
    except ValueError:  # an integer of over 4,300 digits, which _not_plain refuses
        return "(a number too long to write)"
    return text if len(text) <= 40 else text[:37] + "..."


def _is_unicode_text(text: str) -> bool:
    """False for a string holding a lone surrogate (e.g. from bytes that were not UTF-8), which no
    file can hold and JSON cannot carry."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _not_plain(value: object, depth: int = 0) -> str | None:
    """Why a Python override value is not plain spec data (None when it is)."""
    if depth > 64:
        return "the value nests too deeply"
    if isinstance(value, float) and not math.isfinite(value):
        return "expected a finite number"
    if isinstance(value, int) and _too_long(value):
        return "expected a number, found an integer too long to write (over 4,300 digits)"
    if isinstance(value, str) and not _is_unicode_text(value):
        return f"expected Unicode text, found a string with a lone surrogate ({short_repr(value)})"
    if isinstance(value, _PLAIN_SCALARS):
        return None
    if isinstance(value, (list, tuple)):
        return next(filter(None, (_not_plain(item, depth + 1) for item in value)), None)
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return next(filter(None, (_not_plain(item, depth + 1) for item in value.values())), None)
    return (f"expected plain data (numbers, strings, true/false, null, lists, mappings), found a "
            f"{type(value).__name__}")


def parse_path(text: str) -> list[str | int] | None:
    parts: list[str | int] = []
    index = 0
    while index < len(text):
        match = _PATH_PART.match(text, index)
        if match is None or (index == 0) != (match.group(0)[0] not in ".["):
            return None
        if match.group(1) is not None:
            parts.append(match.group(1))
        else:
            digits = match.group(3)
            parts.append((-1 if match.group(2) else 1) * (int(digits) if len(digits) < 18 else _BEYOND_ANY_LIST))
        index = match.end()
    return parts or None


_LIST_NAMES = {("stages",): ("the spec has", "stage"), ("head",): ("the head has", "layer"),
               ("stem",): ("the stem has", "layer")}


def cannot_step(target: object, part: str | int, where: SpecPath, last: bool) -> tuple[str, str | None] | None:
    """Why `target[part]` cannot be read (or, for the last part, set); None when it can."""
    shown = format_path(where)
    if isinstance(target, list):
        if not isinstance(part, int):
            return f"`{shown}` is a list: index it, e.g. `{shown}[0]`", None
        if not -len(target) <= part < len(target):
            owner, item = _LIST_NAMES.get(where, (f"`{shown}` has", "item"))
            count = f"{len(target)} {item}{'s' if len(target) != 1 else ''}"
            return (f"{owner} {count}", f"indices run from 0 to {len(target) - 1}, or -1 to -{len(target)} "
                    "from the end" if target else None)
        return None
    if isinstance(target, dict):
        if isinstance(part, int):
            return f"`{shown or 'the spec'}` is a mapping: name a key, e.g. `{shown}.{next(iter(target), 'key')}`", None
        if part not in target and not last:
            owner = f"`{shown}`" if where else "the spec"
            return f"{owner} has no `{part}`", did_you_mean(part, target) or (
                f"keys: {', '.join(target)}" if target else None)
        return None
    return f"`{shown}` is {short_repr(target)}, not a mapping or a list", None


def plain_copy(value: object) -> object:
    """A copy of plain data (its containers; scalars are immutable)."""
    if isinstance(value, dict):
        return {key: plain_copy(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_copy(item) for item in value]
    return value
