"""How a block defined in YAML tells a node's settings that do not fit, in the spec's words and at the
user's field: a true or false where a number goes (which Pydantic's Python mode would read as 1 or 0),
a derived layer's or nested block's validation errors, and the stage field a `${field}` setting
carries down from.
"""

from __future__ import annotations

from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from archspec.definitions import field_read, is_expression
from archspec.errors import SpecPath, format_path
from archspec.expr_operations import shown_value
from archspec.process_memo import forgettable

# The spec's stage that a use is part of (however deeply nested): its path and the fields it wrote
# (name, value). A value the stage wrote that fails inside the definition (`activation: conv`,
# `groups: 5`) is reported at the user's field, not inside the library file (root_field).
Root = tuple[SpecPath, tuple[tuple[str, Any], ...]]


_TAKES_BOOL: dict[tuple[type, str], bool] = {}
forgettable(_TAKES_BOOL.clear)


def misplaced_bools(model: type[BaseModel], settings: dict[str, Any]) -> list[str]:
    """The settings that are true or false where the layer's field takes no boolean (a width, a
    kernel; a nested block's width or count): Pydantic's Python mode would read them as 1 and 0, where a
    spec's validation refuses them."""
    return [key for key, value in settings.items() if isinstance(value, bool) and key in model.model_fields
            and not _takes_bool(model, key)]


def root_field(root: Root, written: object, value: object) -> SpecPath | None:
    """The spec stage's field that a setting written `${field}` carries down with `value` unchanged
    (through every enclosing definition that passes it on as `${field}`), where the stage wrote it."""
    field = field_read(written)
    root_origin, root_written = root
    for name, found in root_written:
        if name == field and found == value and type(found) is type(value):
            return (*root_origin, name)
    return None


def settings_problems(error: ValidationError, settings: dict[str, Any], written: dict[str, Any]
                      ) -> list[tuple[SpecPath, str, str | None]]:
    """A derived layer's or nested block's validation errors in a spec's words (`width: expected >= 1,
    found -92`), one per setting (a union such as `kernel`'s gives one item per member): each as (the
    setting's key, or () for a rule across fields; the message; the hint)."""
    from archspec.validate import _expected, _show, _value_at, path_is_tag  # (validate imports the registry)

    by_path: dict[SpecPath, list[dict]] = {}
    for item in error.errors(include_url=False):  # the loc without Pydantic's union members
        path = tuple(part for part in item["loc"] if not (isinstance(part, str) and path_is_tag(part)))
        by_path.setdefault(path, []).append(item)  # type: ignore[arg-type]
    problems: list[tuple[SpecPath, str, str | None]] = []
    for path, items in by_path.items():
        if any(other[:len(path)] == path and len(other) > len(path) for other in by_path):
            continue  # a union's other member failed deeper (`kernel[1]` of a pair): that one is said
        if not path or path[0] not in settings:  # a rule across fields: as it is said
            problems.append((path[:1], items[0]["msg"], None))
            continue
        key, value = path[0], _value_at(settings, path)
        expected = " or ".join(dict.fromkeys(_expected(item, path) for item in items))
        hint = f"`{written[key]}` gives {settings[key]!r}" if is_expression(written.get(key)) else None
        problems.append(((key,), f"{format_path(path)}: expected {expected}, found {_show(value)}", hint))
    return problems


def bool_problem(key: str, value: bool, written: object = None) -> tuple[str, str]:
    """The message and hint for a misplaced true or false (`misplaced_bools`), said as a spec writes it."""
    found = shown_value(value)
    return (f"{key}: expected a number, found {found}",
            f"`{written}` gives {found}: write a number" if is_expression(written)
            else "true and false are not numbers here: write the number")


def _takes_bool(model: type[BaseModel], key: str) -> bool:
    if (model, key) not in _TAKES_BOOL:
        _TAKES_BOOL[model, key] = bool in _types(model.model_fields[key].annotation)
    return _TAKES_BOOL[model, key]


def _types(annotation: Any) -> set[Any]:
    """Every type and literal inside an annotation (unions, Annotated, tuples)."""
    arguments = get_args(annotation)
    return {annotation} if not arguments else set().union(*(_types(argument) for argument in arguments))
