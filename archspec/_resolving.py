"""Whether a loaded document needs the resolve pass (archspec/overrides.py), and the keys that pass
reads, without importing it or archspec/scale.py: `archspec.load` asks for every spec, and most
specs (no `vars`, `scales` or `${...}`) never need either."""

from __future__ import annotations

from archspec.loader import Document

VARS = "vars"
SCALES = "scales"
SCALE_OVERRIDE = "--scale"  # the override path that chooses a named scale: `--scale=s` in --set's list


def needs_resolving(document: Document) -> bool:
    """Whether a document has anything for this pass (one substring search of the text)."""
    return "${" in document.text or (isinstance(document.data, dict) and bool({VARS, SCALES} & document.data.keys()))
