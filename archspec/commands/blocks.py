"""`archspec blocks [SPEC]`: every block kind a spec can use, with its fields, defaults and one line.

Built-in kinds (Python), the library's (YAML in the package) and, given a spec, the spec's own and
those it imports. Never imports torch.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from archspec.commands import EXIT_OK

NAME = "blocks"
HELP = "list the block kinds a spec can use (built-in, library, the spec's own) with their fields"

_STAGE_FIELDS = ("block", "name", "width", "repeats", "stride", "shortcut", "copy_names")  # every kind has these
_REQUIRED = "(required)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", type=Path, nargs="?", default=None,
                        help="a spec whose own block kinds (and imports) to list too")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def kinds(spec_path: str | Path | None = None) -> list[dict[str, Any]]:
    """[{kind, source, description, fields: {name: default}, requires: [...]}] for every kind available."""
    from archspec import load
    from archspec.blocks import BLOCKS
    from archspec.blocks.defined import describe
    from archspec.library import library_kinds, spec_kinds

    own = dict(spec_kinds(load(spec_path).blocks)) if spec_path else {}
    listed: list[dict[str, Any]] = []
    library = library_kinds()
    for source, table in (("built-in", dict(BLOCKS.items())), ("library", library),
                          ("spec", {k: m for k, m in own.items() if library.get(k) is not m})):
        for kind, model in table.items():
            fields = {name: (_REQUIRED if info.is_required() else info.default)
                      for name, info in model.model_fields.items() if name not in _STAGE_FIELDS}
            definition = getattr(model, "definition", None)
            listed.append({"kind": kind, "source": source, "description": describe(model), "fields": fields,
                           "requires": list(definition.requires) if definition is not None else []})
    return listed


def run(args: argparse.Namespace) -> int:
    listed = kinds(args.spec)
    if args.json:
        print(json.dumps({"kinds": listed}, indent=2, default=str))
        return EXIT_OK
    width = max(len(entry["kind"]) for entry in listed)
    source = None
    for entry in listed:
        if entry["source"] != source:
            source = entry["source"]
            print(f"{'' if source == 'built-in' else chr(10)}{source} kinds:")
        fields = ", ".join(f"{name}={_show(value)}" for name, value in entry["fields"].items())
        print(f"  {entry['kind']:<{width}}  {entry['description']}")
        if fields:
            print(f"  {'':<{width}}  fields: {fields}")
        if entry["requires"]:
            print(f"  {'':<{width}}  requires: {', '.join(entry['requires'])}")
    print("\nevery kind also takes: width, repeats, stride (of the first copy), shortcut, name, copy_names")
    return EXIT_OK


def _show(value: object) -> str:
    if value == _REQUIRED:
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return json.dumps(value) if isinstance(value, str) else str(value)
