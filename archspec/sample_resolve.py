"""The resolve pass for a design space's samples, prepared once per space.

Every sample of a space has the same `${...}` strings at the same places (a distribution's drawn
value replaces it whole, and a space whose choices hold `${` is not prepared), and its vars are
plain drawn values in the common case. So the places and texts are found once, and a sample's
resolve is: evaluate those texts with the drawn vars (their syntax trees are cached by
`archspec.expr.parse`), and copy only the containers that hold one. The result is the document
`archspec.overrides.resolve` gives for the same data (`document`), `expressions` included, so later errors are
placed and hinted alike. Anything else (a var that is itself an expression, an expression that
fails, `scales`) returns None: the caller then runs the full pass, which reports errors at their place.
"""

from __future__ import annotations

import re
from typing import Any

from archspec.errors import SpecPath
from archspec.expr import ExprError, UsesFailedName, has_expression, interpolate
from archspec.loader import Document
from archspec.overrides import BLOCKS, VARS, ResolvedDocument
from archspec.scale import SCALES
from archspec.space import CONSTRAINTS, Distribution, holders_of, is_distribution, replaced

_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class SampleResolver:
    def __init__(self, document: Document, distributions: tuple[Distribution, ...]):
        self.document_source = document
        data = document.data
        variables = data.get(VARS, {}) if isinstance(data, dict) else None
        self.usable = (isinstance(data, dict) and SCALES not in data and isinstance(variables, dict)
                       and all(isinstance(name, str) and _VAR_NAME.fullmatch(name) for name in variables)
                       and not any(has_expression(repr(d.options)) for d in distributions))
        self.expressions: dict[SpecPath, str] = {}
        if self.usable:
            assert isinstance(data, dict)
            for key, value in data.items():
                if key not in (VARS, CONSTRAINTS, BLOCKS):  # a block definition's are the block's own
                    _collect(value, (key,), self.expressions)
        self.holders = holders_of(self.expressions)

    def resolve(self, data: dict[str, Any]) -> dict[str, Any] | None:
        """The resolved data of a drawn sample's data (without its constraints), or None where the
        full pass must decide."""
        variables = data.get(VARS, {})
        if not self.usable or not isinstance(variables, dict) or not all(
                isinstance(value, (int, float)) or (isinstance(value, str) and not has_expression(value))
                for value in variables.values()):
            return None
        try:
            values = {path: interpolate(text, variables) for path, text in self.expressions.items()}
        except (ExprError, UsesFailedName):
            return None
        resolved = replaced(data, (), values, self.holders)
        if resolved is data:
            resolved = dict(data)
        resolved.pop(VARS, None)
        return resolved

    def document(self, data: Any) -> ResolvedDocument:
        """The document of resolved (or then expanded) data: the full pass's for the same data."""
        source = self.document_source
        return ResolvedDocument(data, source.file, source.text, source.marks, source.key_marks, source.imported,
                                expressions=self.expressions,  # read only, so shared
                                imported_files=source.imported_files)


def _collect(value: object, path: SpecPath, found: dict[SpecPath, str]) -> None:
    """The `${...}` strings under `value`, by path, in the order of the text; distributions skipped."""
    if isinstance(value, str):
        if has_expression(value):
            found[path] = value
    elif is_distribution(value):
        return
    elif isinstance(value, dict):
        for key, item in value.items():
            _collect(item, (*path, key), found)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _collect(item, (*path, index), found)
