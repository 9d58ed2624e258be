"""Structured errors: every problem in a spec is a `Diagnostic` that names where it is and what to do.

All passes collect diagnostics instead of raising on the first one, so a user sees every error of a
spec at once; `SpecError` carries the whole list when a pass cannot go on.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

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
    """A suggestion for a misspelt name, or None when nothing is close."""
    if not isinstance(found, str):
        return None
    close = difflib.get_close_matches(found, list(choices), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None


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
    """By position in the file, so the report reads top to bottom; unplaced ones last."""
    unique = list(dict.fromkeys(diagnostics))
    return sorted(unique, key=lambda d: (d.line is None, d.line or 0, d.column or 0, d.path_text))


class SpecError(ValueError):
    """An invalid spec. `errors` holds every diagnostic found, sorted by line."""

    def __init__(self, errors: Sequence[Diagnostic]):
        self.errors = sort_diagnostics(errors)
        count = len(self.errors)
        summary = f"{count} error{'s' if count != 1 else ''} in spec"
        super().__init__(summary + "\n" + "\n".join(d.render() for d in self.errors))

    def render(self) -> str:
        return "\n".join(d.render() for d in self.errors)
