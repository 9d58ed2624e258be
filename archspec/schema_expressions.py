"""The JSON Schema of spec files that use vars and expressions (`archspec schema`): the spec models'
schema, widened to what a file may hold before the resolve pass (archspec/overrides.py)."""

from __future__ import annotations

from typing import Any

from archspec.overrides import VARS
from archspec.scale import SCALES, SCALES_SCHEMA

_TYPE_KEYS = ("type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "pattern",
              "enum", "minLength", "maxLength")
_EXPRESSION_SCHEMA = {"type": "string", "pattern": r"\$\{",
                      "description": "a `${...}` expression, resolved before the spec is validated"}
_VARS_SCHEMA = {"type": "object", "description": "names for values, used in any field as `${name}` or "
                "in expressions (`${base * 2}`); `--set name=VALUE` overrides one",
                "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                "additionalProperties": {"type": ["integer", "number", "string", "boolean"]}}


def schema_with_expressions(schema: dict[str, Any]) -> dict[str, Any]:
    """The spec models' schema, widened to what a file may hold before this pass: a top-level `vars`
    mapping, and a `${...}` string wherever a number, a boolean or a constrained string goes (the
    resolved values are validated by the models themselves)."""
    widened = _widen(schema)
    widened["$defs"]["Expression"] = _EXPRESSION_SCHEMA
    widened["properties"] = {**widened["properties"], VARS: _VARS_SCHEMA, SCALES: SCALES_SCHEMA}
    return widened


def _widen(node: Any) -> Any:
    if isinstance(node, list):
        return [_widen(item) for item in node]
    if not isinstance(node, dict):
        return node
    widened = {key: _widen(value) for key, value in node.items()}
    kind = node.get("type")
    if kind in ("integer", "number", "boolean") or (kind == "string" and ("pattern" in node or "enum" in node)):
        value_schema = {key: widened.pop(key) for key in _TYPE_KEYS if key in widened}
        widened["anyOf"] = [value_schema, {"$ref": "#/$defs/Expression"}]
    return widened
