"""Structured errors: every problem in a spec is a `Diagnostic` that names where it is and what to do.

All passes collect diagnostics instead of raising on the first one, so a user sees every error of a
spec at once; `SpecError` carries the whole list when a pass cannot go on.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

SpecPath = tuple[str | int, ...]


def format_path(path: SpecPath) -> str:
    """('stages', 1, 'stride') -> 'stages[1].stride', the way a user reads the YAML."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "<spec>"


def did_you_mean(found: object, choices: Iterable[str]) -> str | None:
    """A suggestion for a misspelt name, or None when nothing is close.

    Close means the same name in another case, or at most max(1, len // 3) single-character edits
    (Damerau-Levenshtein: a swap of two neighbours is one edit) and not every letter changed: so
    `botleneck` gets `bottleneck` and `widht` gets `width`, but `concat` gets no `conv` and `X` no
    `A`. A far-fetched suggestion points the user the wrong way; the message lists what exists."""
    close = closest_name(found, choices)
    return f"did you mean `{close}`?" if close is not None else None


def closest_name(found: object, choices: Iterable[str]) -> str | None:
    """The choice closest to `found` within the limit `did_you_mean` describes; never `found` itself."""
    if not isinstance(found, str):
        return None
    options = [choice for choice in choices if choice != found]
    for choice in options:
        if choice.lower() == found.lower():
            return choice
    limit = max(1, len(found) // 3)
    # Ties go to the more similar spelling (difflib's ratio): `stides` is `stride`, not `stages`.
    ranked = sorted((edit_distance(found.lower(), choice.lower()),
                     -difflib.SequenceMatcher(None, found.lower(), choice.lower()).ratio(), n)
                    for n, choice in enumerate(options))
    if not ranked or ranked[0][0] > limit:
        return None
    best = options[ranked[0][2]]
    # One edit of a one-letter name is another name, not a misspelling: `X` is not `A`.
    return best if ranked[0][0] < max(len(found), len(best)) else None


def edit_distance(a: str, b: str) -> int:
    """Insertions, deletions, substitutions and swaps of neighbours turning `a` into `b`
    (optimal string alignment distance)."""
    before: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, other in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char != other))
            if i > 1 and j > 1 and char == b[j - 2] and a[i - 2] == other:
                current[j] = min(current[j], before[j - 2] + 1)
        before, previous = previous, current
    return previous[-1]


@dataclass(frozen=True)
class Diagnostic:
    """One problem in a spec: where it is (file, line, column, spec path), what is wrong, what to do."""

    path: SpecPath
    message: str
    hint: str | None = None
    file: str | None = None
    line: int | None = None  # 1-based, like an editor
    column: int | None = None  # 1-based
    source_line: str | None = field(default=None, compare=False)
    # Which file, in reading order: 0 the spec, then its imports as they are read. Errors list the
    # spec's own first, then each imported file's, each by line (lines of two files do not compare).
    file_order: int = field(default=0, compare=False)

    @property
    def path_text(self) -> str:
        return format_path(self.path)

    @property
    def location(self) -> str:
        file = self.file or "<spec>"
        if self.line is None:
            return file
        return f"{file}:{self.line}:{self.column or 1}"

    def render(self) -> str:
        """The terminal form: `file:line:col: error: path: message`, the YAML line, the hint."""
        where = f"{self.path_text}: " if self.path else ""
        text = f"{self.location}: error: {where}{self.message}"
        if self.source_line is not None and self.column is not None:
            line, caret = _excerpt(self.source_line, self.column - 1)
            text += f"\n    {line}\n    {' ' * caret}^"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path_text,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "hint": self.hint,
        }


def _excerpt(line: str, column: int, width: int = 100) -> tuple[str, int]:
    """The quoted YAML line, cut to `width` characters around `column`, and the caret's offset.
    A tab is one column: shown as one space, the caret stays under the right character."""
    line = line.replace("\t", " ")
    if len(line) <= width:
        return line, column
    start = max(0, min(column - width // 3, len(line) - width))
    cut = line[start:start + width]
    prefix = "..." if start else ""
    suffix = "..." if start + width < len(line) else ""
    return prefix + cut + suffix, column - start + len(prefix)


def sort_diagnostics(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """By file, then by position in it, so the report reads top to bottom; unplaced ones last."""
    unique = _one_per_place(dict.fromkeys(diagnostics))
    return sorted(unique, key=lambda d: (d.line is None, d.file_order, d.line or 0, d.column or 0, d.path_text))


def _one_per_place(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """One diagnostic per problem in the text: a YAML alias (`*conv`, `<<: *conv`) repeats a value at
    several paths, and its mistake, placed at the anchor, is one to fix: the first path, naming the others."""
    places: dict[tuple[object, ...], list[Diagnostic]] = {}
    for each in diagnostics:
        key = (each.file, each.line, each.column, each.message, each.hint) if each.line is not None else (each,)
        places.setdefault(key, []).append(each)
    return [same[0] if len(same) == 1 else replace(same[0], message=f"{same[0].message} (the same text is "
            f"also {' and '.join(other.path_text for other in same[1:])})") for same in places.values()]


def outside(diagnostics: Iterable[Diagnostic], paths: Iterable[SpecPath]) -> list[Diagnostic]:
    """The diagnostics not at or under any of `paths`: where an earlier pass left a value out (the
    loader, the resolve pass), validation's errors there only repeat that pass's own."""
    paths = tuple(paths)
    return [each for each in diagnostics if not any(each.path[:len(p)] == p for p in paths)]


class SpecError(ValueError):
    """An invalid spec. `errors` holds every diagnostic found, sorted by line."""

    def __init__(self, errors: Sequence[Diagnostic]):
        self.errors = sort_diagnostics(errors)
        count = len(self.errors)
        summary = f"{count} error{'s' if count != 1 else ''} in spec"
        super().__init__(summary + "\n" + "\n".join(d.render() for d in self.errors))

    def __reduce__(self) -> tuple[type[SpecError], tuple[list[Diagnostic]]]:
        # Rebuilt from its diagnostics, not its message: `archspec sample --jobs` raises a worker's here.
        return (SpecError, (self.errors,))

    def render(self) -> str:
        return "\n".join(d.render() for d in self.errors)
