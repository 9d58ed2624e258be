"""`loader.dump`'s text, written quickly for the simple shape of most specs; None for anything else.

`archspec sample` writes one spec file per accepted sample, thousands of them, and PyYAML's emitter
(pure Python) took about 2 ms a spec, several times the draw and the check. Most specs are a block
mapping whose values are scalars, flat mappings of scalars (written in flow style: `input:
{channels: 3, size: 224}`) and lists of flat mappings (`stages:` then one `- {block: ...}` per line).
For exactly that shape this writes what PyYAML writes, from parts that PyYAML itself wrote and that
are cached: each scalar's text in a flow collection, and each top-level scalar entry's text (a long
description may span lines). Every flow line must be at most LINE_LIMIT characters long, dump's
width, so that PyYAML would not have wrapped it. Anything else (floats, nested lists, an empty key, a long
line) gives None, and the caller uses `loader.dump`. tests/test_quick_dump.py compares the two.
"""

from __future__ import annotations

import re
from functools import lru_cache

from archspec.loader import DUMP_WIDTH, dump

# PyYAML breaks a flow line before a key only when the line is already longer than its width: a
# line of at most that many characters was written whole.
LINE_LIMIT = DUMP_WIDTH
_KIND_KEYS = ("layer", "block")  # written first, as `loader.dump` does
# `regnet_x-00012`: PyYAML writes it plain. It starts with a letter, so no implicit resolver reads it
# as a number, a date or a merge key, and the suffix `-digits` keeps it from being one of the words
# read as true, false or null; it has no character that plain style refuses, nor a space to break at.
_NUMBERED_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*-[0-9]+")
_SENTINEL = "zz_sentinel"
_SENTINEL_TEXT = f"{_SENTINEL}:\n- []\n"


def quick_dump(data: object) -> str | None:
    """`dump(data)`, or None where this cannot be sure to write the same text."""
    if not isinstance(data, dict) or not any(isinstance(value, (dict, list, tuple)) for value in data.values()):
        return None  # PyYAML writes a mapping of scalars alone in flow style: not a spec's shape
    lines: list[str] = []
    for key, value in _ordered(data):
        if not isinstance(key, str):
            return None
        key_text = _flow_scalar(key)
        if key_text is None or key_text != key:
            return None
        if isinstance(value, dict):
            flow = _flow_mapping(value)
            line = None if flow is None else f"{key}: {flow}"
            if line is None or len(line) > LINE_LIMIT:
                return None
            lines.append(line + "\n")
        elif isinstance(value, (list, tuple)):
            if not value:
                lines.append(f"{key}: []\n")
                continue
            items = [_flow_mapping(item) if isinstance(item, dict) and item else None for item in value]
            if any(item is None or len(item) + 2 > LINE_LIMIT for item in items):
                return None
            lines.append(f"{key}:\n" + "".join(f"- {item}\n" for item in items))
        elif isinstance(value, str) and _NUMBERED_NAME.fullmatch(value) and len(key) + len(value) < LINE_LIMIT:
            lines.append(f"{key}: {value}\n")  # a sample's name, new each time: plain (see _NUMBERED_NAME)
        else:  # PyYAML's own text for the entry, however many lines
            entry = _top_scalar(key, value)
            if entry is None:
                return None
            lines.append(entry)
    return "".join(lines)


def _ordered(mapping: dict) -> list[tuple[object, object]]:
    first = [key for key in _KIND_KEYS if key in mapping]
    return [(key, mapping[key]) for key in [*first, *(k for k in mapping if k not in first)]]


def _flow_mapping(mapping: dict) -> str | None:
    """`{a: 1, b: x}` as PyYAML writes a mapping of scalars in flow style."""
    if not mapping:
        return "{}"
    parts = []
    for key, value in _ordered(mapping):
        if not isinstance(key, str) or isinstance(value, (dict, list, tuple)):
            return None
        key_text, value_text = _flow_scalar(key), _flow_scalar(value)
        if key_text is None or key_text != key or value_text is None:
            return None  # a key PyYAML would quote: its simple-key rules are not reproduced here
        parts.append(f"{key}: {value_text}")
    return "{" + ", ".join(parts) + "}"


@lru_cache(maxsize=8192, typed=True)  # typed: 1, 1.0 and True are different scalars
def _flow_scalar(value: object) -> str | None:
    """A scalar's text inside a flow collection, as PyYAML writes it (from a one-item flow sequence:
    the same context for the choice of plain or quoted style); None for floats (whose text
    depends on PyYAML's representer) and anything written over more than one line."""
    if isinstance(value, float) or not isinstance(value, (str, int, type(None))):
        return None
    if isinstance(value, str) and (not value or len(value) > LINE_LIMIT):
        return None
    text = dump([value])
    if not (text.startswith("[") and text.endswith("]\n")) or "\n" in text[:-1]:
        return None
    return text[1:-2]


@lru_cache(maxsize=1024, typed=True)
def _top_scalar(key: str, value: object) -> str | None:
    """`key: value` as a line (or lines) of the top-level block mapping: PyYAML's text for a mapping
    of this entry and a sentinel collection (which makes the mapping block style, as a spec's is),
    the sentinel's text cut off; an entry's text does not depend on the entries after it."""
    if isinstance(value, float) or not isinstance(value, (str, int, type(None))):
        return None
    text = dump({key: value, _SENTINEL: [[]]})
    return text[:-len(_SENTINEL_TEXT)] if text.endswith("\n" + _SENTINEL_TEXT) else None
