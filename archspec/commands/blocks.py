"""`archspec blocks [SPEC]`: every block kind a spec can use, with its fields, defaults and one line.

Built-in kinds (Python), the library's (YAML in the package) and, given a spec, the spec's own and
those it imports. Never imports torch.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from archspec.commands import EXIT_INVALID, EXIT_OK, report_errors
from archspec.errors import Diagnostic, SpecError

NAME = "blocks"
HELP = "list the block kinds a spec can use (built-in, library, the spec's own) with their fields"

_STAGE_FIELDS = ("block", "name", "width", "repeats", "stride", "shortcut", "copy_names")  # every kind has these
_REQUIRED = "(required)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", type=Path, nargs="?", default=None,
                        help="a spec whose own block kinds (and imports) to list too")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def kinds(spec_path: str | Path | None = None) -> list[dict[str, Any]]:
    """[{kind, source, description, fields: {name: default}, requires: [...]}] for every kind available;
    raises SpecError where the spec has errors (`listed_kinds` lists what it can then)."""
    listed, errors = listed_kinds(spec_path)
    if errors:
        raise SpecError(errors)
    return listed


def listed_kinds(spec_path: str | Path | None = None) -> tuple[list[dict[str, Any]], list[Diagnostic]]:
    """`kinds`, and the spec's errors. A spec with errors still lists the built-in and library kinds and
    those of its own (and imported) kinds whose definitions are valid: who has a broken spec needs them."""
    from archspec import load
    from archspec.blocks import BLOCKS
    from archspec.blocks.defined import describe
    from archspec.library import library_kinds, spec_kinds

    own: dict[str, Any] = {}
    errors: list[Diagnostic] = []
    if spec_path:
        try:
            own = dict(spec_kinds(load(spec_path).blocks))
        except SpecError as error:
            own, errors = _valid_kinds(spec_path), list(error.errors)
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
    return listed, errors


def _valid_kinds(spec_path: str | Path) -> dict[str, Any]:
    """The spec's own kinds (with its imports', where those load) whose definitions are valid on their
    own and together: each definition validated alone, then those that the checks across kinds
    (nested kinds that exist, no cycle, no built-in name) refuse left out until none is."""
    from pydantic import TypeAdapter, ValidationError

    from archspec.definitions import BlockDefinition, KindName, check_kind_set
    from archspec.imports import with_imports
    from archspec.library import library_kinds, spec_kinds
    from archspec.loader import load_document
    from archspec.validation_memo import json_text

    try:
        document = load_document(spec_path)
    except SpecError:
        return {}
    with contextlib.suppress(SpecError):  # an import that fails: the spec's own definitions still list
        document = with_imports(document)
    written = document.data.get("blocks") if isinstance(document.data, dict) else None
    definitions: dict[str, BlockDefinition] = {}
    for kind, definition in (written.items() if isinstance(written, dict) else ()):
        try:
            TypeAdapter(KindName).validate_python(kind, strict=True)
            definitions[kind] = BlockDefinition.model_validate_json(json_text(definition), strict=True)
        except ValidationError:
            continue
    while definitions:
        refused = {path[0] for path, _, _ in check_kind_set(definitions, library_kinds())}
        if not refused:
            break
        definitions = {kind: definition for kind, definition in definitions.items() if kind not in refused}
    try:
        return dict(spec_kinds(definitions))
    except (SpecError, ValidationError):
        return {}


def run(args: argparse.Namespace) -> int:
    listed, errors = listed_kinds(args.spec)
    if args.json:
        print(json.dumps({"kinds": listed, "errors": [error.to_json() for error in errors]}, indent=2, default=str))
        return EXIT_INVALID if errors else EXIT_OK
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
    if errors:
        sys.stdout.flush()  # the list first, then the errors that kept the rest of the spec's kinds out
        return report_errors(errors)
    return EXIT_OK


def _show(value: object) -> str:
    if value == _REQUIRED:
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return json.dumps(value) if isinstance(value, str) else str(value)
