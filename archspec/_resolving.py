"""Whether a loaded document needs the resolve pass (archspec/overrides.py), without importing that
pass: `archspec.load` asks for every spec, and most specs (no `vars`, no `${...}`) never need it."""

from __future__ import annotations

from archspec.loader import Document
from archspec.scale import SCALES

VARS = "vars"


def needs_resolving(document: Document) -> bool:
    """Whether a document has anything for this pass (one substring search of the text)."""
    return "${" in document.text or (isinstance(document.data, dict) and bool({VARS, SCALES} & document.data.keys()))
