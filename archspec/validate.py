"""Validate pass: plain data -> `Spec`, turning Pydantic's errors into located, actionable diagnostics."""

from __future__ import annotations

from collections import defaultdict

from pydantic import BaseModel, ValidationError

from archspec.blocks import BLOCKS
from archspec.errors import Diagnostic, SpecError, SpecPath, did_you_mean
from archspec.layers import LAYERS
from archspec.loader import Document
from archspec.spec import UNION_TAGS, InputSpec, ListStage, Spec

_TAGS = {"layer": LAYERS, "block": BLOCKS}
_WHAT = {"layer": "layer kind", "block": "block kind"}


def validate(document: Document) -> Spec:
    """The `Spec` for a loaded document; raises `SpecError` with every problem found."""
    try:
        spec = Spec.model_validate(document.data)
    except ValidationError as error:
        raise SpecError(diagnostics(document, error)) from None
    spec._document = document
    return spec


def diagnostics(document: Document, error: ValidationError) -> list[Diagnostic]:
    grouped: dict[SpecPath, list[dict]] = defaultdict(list)
    for item in error.errors(include_url=False):
        grouped[_data_path(document.data, item["loc"])].append(item)
    return [_diagnostic(document, path, items) for path, items in grouped.items()]


def _data_path(data: object, loc: tuple) -> SpecPath:
    """Pydantic's loc without the union members and tags it inserts: the path as the user wrote it."""
    path: list[str | int] = []
    for part in loc:
        if isinstance(data, dict) and isinstance(part, str) and part in data:
            data = data[part]
            path.append(part)
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
            path.append(part)
        elif isinstance(data, dict) and isinstance(part, str) and not path_is_tag(part):
            path.append(part)  # a missing key: point at the mapping, name the key
            data = None
    return tuple(path)


def path_is_tag(part: str) -> bool:
    return (part in LAYERS or part in BLOCKS or part in UNION_TAGS or "[" in part
            or part in ("int", "str", "bool", "float"))


def _value_at(data: object, path: SpecPath) -> object:
    for part in path:
        try:
            data = data[part]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _allowed_keys(data: object, parent: SpecPath) -> list[str]:
    mapping = _value_at(data, parent)
    model: type[BaseModel] | None = {(): Spec, ("input",): InputSpec}.get(parent)
    if isinstance(mapping, dict):
        if "blocks" in mapping:
            model = ListStage
        for tag, registry in _TAGS.items():
            if mapping.get(tag) in registry:
                model = registry[mapping[tag]]
    return [name for name in model.model_fields] if model else []


def _diagnostic(document: Document, path: SpecPath, items: list[dict]) -> Diagnostic:
    item = items[0]
    kind = item["type"]
    found = _value_at(document.data, path)
    if kind == "extra_forbidden":
        key = path[-1]
        allowed = _allowed_keys(document.data, path[:-1])
        hint = did_you_mean(key, allowed) or (f"allowed keys: {', '.join(allowed)}" if allowed else None)
        return document.diagnostic(path, f"unknown key `{key}`", hint, at_key=True)
    if kind == "union_tag_invalid":
        tag = item["ctx"]["discriminator"].strip("'")
        names = _TAGS[tag].names() if tag in _TAGS else []
        hint = did_you_mean(item["ctx"]["tag"], names)
        listing = f"expected one of: {', '.join(names)}"
        return document.diagnostic(
            (*path, tag), f"unknown {_WHAT.get(tag, tag)} `{item['ctx']['tag']}`; {listing}", hint)
    if kind == "union_tag_not_found":
        tag = item["ctx"]["discriminator"].strip("'")
        names = _TAGS[tag].names() if tag in _TAGS else []
        return document.diagnostic(path, f"missing `{tag}`: expected one of {', '.join(names)}",
                                   f"add `{tag}: {names[0] if names else '...'}`")
    if kind == "missing":
        return document.diagnostic(path, f"missing required key `{path[-1]}`",
                                   f"add `{path[-1]}: ...` here")
    if kind == "value_error" and isinstance(found, dict):  # a rule across fields: say it as it is
        return document.diagnostic(path, _expected(item))
    expected = " or ".join(dict.fromkeys(_expected(i) for i in items))
    return document.diagnostic(path, f"expected {expected}, found {_show(found)}")


def _expected(item: dict) -> str:
    message: str = item["msg"]
    for prefix in ("Input should be ", "Value error, ", "String should "):
        if message.startswith(prefix):
            message = message[len(prefix):]
            break
    if item["type"] == "string_pattern_mismatch":
        return f"a name of letters, digits and `_` (pattern {item['ctx']['pattern']})"
    if item["type"].startswith("tuple") or item["type"] == "too_short" or item["type"] == "too_long":
        return "a list of 2 numbers [height, width]"
    for words, symbol in _COMPARISONS:
        message = message.replace(words, symbol)
    return message.replace("a valid integer", "an integer").replace("a valid number", "a number")


_COMPARISONS = [("greater than or equal to ", ">= "), ("less than or equal to ", "<= "),
                ("greater than ", "> "), ("less than ", "< ")]


def _show(value: object) -> str:
    text = "a mapping" if isinstance(value, dict) else repr(value)
    return text if len(text) < 60 else text[:57] + "..."
