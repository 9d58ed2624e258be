"""`archspec schema [-o PATH]`: the JSON Schema of the spec language, generated from the Pydantic models.

The checked-in copy, schemas/archspec.schema.json, is what editors read through the first line of
every spec (`# yaml-language-server: $schema=../schemas/archspec.schema.json`): completion of keys
and kinds, descriptions on hover, and type and range errors as you type. Regenerate it after adding
a layer or block kind: `archspec schema -o schemas/archspec.schema.json` (a test fails until you do).

The schema describes the file as written: it also accepts `vars` and `${...}` strings where values go;
the resolved values are validated by the models (archspec/overrides.py).

What the schema cannot say, the checker still does: rules across fields written as model validators
(a bottleneck's `width * width_per_group >= 64`, an inception block's `width` being the sum of its
branches), and everything about shapes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from archspec import files
from archspec.commands import EXIT_OK, UsageError

NAME = "schema"
HELP = "print (or write with -o) the JSON Schema of specs, for editor completion and checking"

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def build_schema() -> dict[str, object]:
    """The spec language's JSON Schema (draft 2020-12), as a dict."""
    from archspec.schema_expressions import schema_with_expressions
    from archspec.spec import Spec

    generated = schema_with_expressions(_with_defined_kinds(Spec.model_json_schema()))
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": "archspec spec",
        **{key: value for key, value in generated.items() if key != "title"},
    }


_DEFINED_STAGE = {
    "type": "object",
    "title": "DefinedStage",
    "description": "a stage of a block kind defined in YAML (the spec's `blocks:`, an imported file or "
                   "archspec's library) or registered from Python: `archspec blocks SPEC` lists them with "
                   "their fields",
    "properties": {
        "name": {"type": "string"},
        "width": {"type": "integer", "minimum": 1},
        "repeats": {"type": "integer", "minimum": 1, "maximum": 1000},
        "stride": {"type": "integer", "minimum": 1, "maximum": 64},
        "shortcut": {"enum": ["A", "B", "C", "D", "identity", "none"]},
    },
    "required": ["block", "width"],
    "additionalProperties": {"type": ["number", "string", "boolean"]},
}


def _with_defined_kinds(schema: dict[str, Any]) -> dict[str, Any]:
    """Adds to each union of built-in stages a member for every other kind (its name is any string
    but a built-in kind's: the built-in kinds keep their exact schemas)."""
    from archspec.blocks import BLOCKS

    definition = json.loads(json.dumps(_DEFINED_STAGE))
    definition["properties"]["block"] = {"type": "string", "not": {"enum": BLOCKS.names()}}
    schema.setdefault("$defs", {})["DefinedStage"] = definition

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("discriminator", {}).get("propertyName") == "block" and "oneOf" in node:
                node.pop("discriminator")  # an OpenAPI keyword: its mapping would now be incomplete
                node["oneOf"].append({"$ref": "#/$defs/DefinedStage"})
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema)
    return schema


def schema_text() -> str:
    """The schema as the checked-in file holds it: stable key order, two-space indent, final newline."""
    return json.dumps(build_schema(), indent=2, ensure_ascii=False) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", metavar="PATH",
                        help="write the schema to PATH (e.g. schemas/archspec.schema.json) instead "
                             "of printing it")


def run(args: argparse.Namespace) -> int:
    text = schema_text()
    if args.output is None:
        sys.stdout.write(text)
        return EXIT_OK
    target = Path(args.output)
    if target.is_dir():
        raise UsageError(f"{target} is a directory: give a file name, e.g. {target / 'archspec.schema.json'}")
    try:
        files.write_text(target, text)  # never a half-written schema
    except OSError as error:
        raise UsageError(f"cannot write {target}: {error.strerror}") from None
    print(f"wrote {target}", file=sys.stderr)
    return EXIT_OK
