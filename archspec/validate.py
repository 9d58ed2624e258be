"""Validate pass: plain data -> `Spec`, turning Pydantic's errors into located, actionable diagnostics."""

from __future__ import annotations

import json
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
        # Strict, in JSON mode: YAML already gave every value its type, so `width: "64"`, `bias: 1` or
        # `kernel: 3.0` are mistakes to report, not values to coerce, and what Pydantic accepts is
        # exactly what the JSON Schema (schemas/archspec.schema.json) accepts. JSON mode still takes
        # lists for the models' tuples. The loader's data is JSON-safe (no NaN, string keys).
        spec = Spec.model_validate_json(json.dumps(document.data), strict=True)
    except ValidationError as error:
        raise SpecError(diagnostics(document, error)) from None
    spec._document = document
    return spec


def diagnostics(document: Document, error: ValidationError) -> list[Diagnostic]:
    grouped: dict[SpecPath, list[dict]] = defaultdict(list)
    for item in error.errors(include_url=False):
        grouped[_data_path(document.data, item["loc"])].append(item)
    conflicts = {where: keys for path in grouped for where, keys in [_conflict(document.data, path)] if keys}
    placed = [_conflict_diagnostic(document, where, keys) for where, keys in conflicts.items()]
    return placed + [_diagnostic(document, path, items) for path, items in grouped.items()
                     if not _is_echo(path, items, grouped)
                     and not any(path[:len(where)] == where for where in conflicts)]


# Keys that choose what a mapping is; two of them in one mapping make every other error noise.
_CHOOSERS = (("block", "blocks"), ("layer", "block"), ("layer", "blocks"))


def _conflict(data: object, path: SpecPath) -> tuple[SpecPath, tuple[str, str] | None]:
    """The innermost mapping on `path` that has two keys choosing different things, if any."""
    for end in range(len(path), -1, -1):
        mapping = _value_at(data, path[:end])
        if isinstance(mapping, dict):
            for pair in _CHOOSERS:
                if all(key in mapping for key in pair):
                    return path[:end], pair
    return path, None


def _conflict_diagnostic(document: Document, where: SpecPath, keys: tuple[str, str]) -> Diagnostic:
    return document.diagnostic(
        where, f"expected either `{keys[0]}` or `{keys[1]}`, found both",
        "`block: ...` is a stage of one block kind, `blocks: [...]` a list of blocks and layers, "
        "`layer: ...` a single layer: keep the one you mean")


def _is_echo(path: SpecPath, items: list[dict], grouped: dict[SpecPath, list[dict]]) -> bool:
    """An error that only echoes a deeper one: Pydantic calls a list "too short" when one of its items
    failed, and for `size: [8, -8]` also reports that the list is not an integer (the union's other
    member). The deeper error is the one that says what to fix."""
    return (all(item["type"] == "too_short" or item["type"].endswith("_type") for item in items)
            and any(other[:len(path)] == path and len(other) > len(path) for other in grouped))


def _data_path(data: object, loc: tuple) -> SpecPath:
    """Pydantic's loc without the union members and tags it inserts: the path as the user wrote it."""
    path: list[str | int] = []
    for part in loc:
        in_mapping = isinstance(data, dict) and isinstance(part, str) and part in data
        in_list = isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        if in_mapping or in_list:
            data = data[part]
            path.append(part)
        elif isinstance(data, dict) and isinstance(part, str) and not path_is_tag(part):
            path.append(part)  # a missing key: point at the mapping, name the key
            data = None
    return tuple(path)


def path_is_tag(part: str) -> bool:
    # Pydantic's member tags: int, constrained-int, tuple[...], function-after[...]. Spec keys never
    # contain "-" or "[", and a user's unknown key with them is matched as a key before this is asked.
    return (part in LAYERS or part in BLOCKS or part in UNION_TAGS or "[" in part or "-" in part
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
    if isinstance(mapping, dict):  # the model the discriminators chose: blocks, then layer, then block
        if "blocks" in mapping:
            return list(ListStage.model_fields)
        for tag, registry in _TAGS.items():
            if mapping.get(tag) in registry:  # the registry refuses non-strings (a dict is unhashable)
                return list(registry[mapping[tag]].model_fields)
    return list(model.model_fields) if model else []


def _diagnostic(document: Document, path: SpecPath, items: list[dict]) -> Diagnostic:
    item = items[0]
    kind = item["type"]
    found = _value_at(document.data, path)
    if kind == "extra_forbidden":
        key = path[-1]
        allowed = _allowed_keys(document.data, path[:-1])
        hint = did_you_mean(key, allowed) or (f"allowed keys: {', '.join(allowed)}" if allowed else None)
        if key == "layer" and len(path) == 3 and path[0] == "stages":
            hint = _LAYER_AS_STAGE
        return document.diagnostic(path, f"unknown key `{key}`", hint, at_key=True)
    if kind == "union_tag_invalid":
        tag = item["ctx"]["discriminator"].strip("'")
        names = _TAGS[tag].names() if tag in _TAGS else []
        given = _value_at(document.data, (*path, tag))
        hint = did_you_mean(given, names)
        listing = f"expected one of: {', '.join(names)}"
        shown = f"`{given}`" if isinstance(given, str) else f"{_show(given)} (a name is needed)"
        return document.diagnostic((*path, tag), f"unknown {_WHAT.get(tag, tag)} {shown}; {listing}", hint)
    if kind == "union_tag_not_found":
        tag = item["ctx"]["discriminator"].strip("'")
        names = _TAGS[tag].names() if tag in _TAGS else []
        hint = (_LAYER_AS_STAGE if tag == "block" and isinstance(found, dict) and "layer" in found
                else f"add `{tag}: {names[0] if names else '...'}`")
        return document.diagnostic(path, f"missing `{tag}`: expected one of {', '.join(names)}", hint)
    if kind == "missing" and found is not None:  # a missing item of a fixed-length list
        return document.diagnostic(path, f"expected {_expected({'type': 'too_short', 'msg': ''}, path)}, "
                                   f"found {_show(found)}")
    if kind == "missing":
        return document.diagnostic(path, f"missing required key `{path[-1]}`",
                                   f"add `{path[-1]}: ...` here")
    if kind == "value_error" and isinstance(found, dict):  # a rule across fields: say it as it is
        return document.diagnostic(path, _expected(item, path))
    expected = " or ".join(dict.fromkeys(_expected(i, path) for i in items))
    return document.diagnostic(path, f"expected {expected}, found {_show(found)}",
                               _type_hint(found, items))


def _type_hint(found: object, items: list[dict]) -> str | None:
    kinds = {item["type"] for item in items}
    if "literal_error" in kinds:
        choices = [str(choice) for item in items if item["type"] == "literal_error"
                   for choice in item["ctx"].get("expected", "").replace("'", "").replace(" or ", ", ")
                   .split(", ")]
        by_case = {choice.lower(): choice for choice in choices}
        if isinstance(found, str) and found.lower() in by_case:
            return f"did you mean `{by_case[found.lower()]}`?"
        return did_you_mean(found, choices)
    if isinstance(found, str) and kinds & {"int_type", "float_type"} and _is_number(found):
        return "write the number without quotes"
    if isinstance(found, bool) and kinds & {"int_type", "float_type"}:
        return "true and false are not numbers here: write the number"
    if isinstance(found, float) and "int_type" in kinds and found.is_integer():
        return f"write {int(found)}, without the decimal point"
    return None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


_LAYER_AS_STAGE = "a stage is a block, not a layer: write the layer in a list stage, {blocks: [{layer: ...}]}"

# What a list-valued key holds, for "expected a list of ..." messages, and what one item looks like.
_LISTS = {"stem": "layers", "head": "layers", "stages": "stages", "blocks": "blocks and layers"}
_ITEMS = {"stem": "a layer such as {layer: relu}", "head": "a layer such as {layer: relu}",
          "stages": "a stage such as {block: basic, width: 64} or {blocks: [...]}",
          "blocks": "a block such as {block: basic, width: 64} or a layer such as {layer: relu}"}


def _expected(item: dict, path: SpecPath = ()) -> str:
    message: str = item["msg"]
    for prefix in ("Input should be ", "Value error, ", "String should "):
        if message.startswith(prefix):
            message = message[len(prefix):]
            break
    if item["type"] == "string_pattern_mismatch":
        return f"a name of letters, digits and `_` (pattern {item['ctx']['pattern']})"
    key = next((part for part in reversed(path) if isinstance(part, str)), "")
    if item["type"] in ("tuple_type", "list_type", "too_short", "too_long") and key in _LISTS:
        limits = item.get("ctx") or {}
        length = (f" (at least {limits['min_length']})" if item["type"] == "too_short" else
                  f" (at most {limits.get('max_length')})" if item["type"] == "too_long" else "")
        return f"a list of {_LISTS[key]}{length}"
    if item["type"].startswith("tuple") or item["type"] in ("too_short", "too_long"):
        return "a list of 2 numbers [height, width]" if key != "c2" and key != "c3" else \
            "a list of 2 numbers [reduce, out]"
    if item["type"] in ("model_type", "dict_type", "model_attributes_type"):
        return _ITEMS.get(key, "a mapping of keys to values") if path and isinstance(path[-1], int) \
            else "a mapping of keys to values"
    for words, symbol in _COMPARISONS:
        message = message.replace(words, symbol)
    for words, plain in _PLAIN_WORDS:
        message = message.replace(words, plain)
    return message


_PLAIN_WORDS = [("a valid integer", "an integer"), ("a valid number", "a number"),
                ("a valid boolean", "true or false"), ("a valid string", "a string")]
_COMPARISONS = [("greater than or equal to ", ">= "), ("less than or equal to ", "<= "),
                ("greater than ", "> "), ("less than ", "< ")]


def _show(value: object) -> str:
    """A found value as the user wrote it in YAML: null, true, "64" (quoted: a string), [1, 2]."""
    if isinstance(value, dict):
        return "a mapping"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) < 60 else text[:57] + "..."
