"""Validate pass: plain data -> `Spec`, turning Pydantic's errors into located, actionable diagnostics."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import get_args

from pydantic import BaseModel, ValidationError

from archspec.blocks import BLOCKS
from archspec.definitions import LAST_DEFINED, VISIBLE, find_kind
from archspec.errors import Diagnostic, SpecError, SpecPath, closest_name, did_you_mean
from archspec.layers import LAYERS
from archspec.loader import Document
from archspec.spec import UNION_TAGS, InputSpec, ListStage, Spec
from archspec.validation_memo import json_text

_TAGS = {"layer": LAYERS, "block": BLOCKS}
_WHAT = {"layer": "layer kind", "block": "block kind"}


def validate(document: Document) -> Spec:
    """The `Spec` for a loaded document; raises `SpecError` with every problem found."""
    try:
        # Strict, in JSON mode: YAML already gave every value its type, so `width: "64"`, `bias: 1` or
        # `kernel: 3.0` are mistakes to report, not values to coerce, and what Pydantic accepts is
        # exactly what the JSON Schema (schemas/archspec.schema.json) accepts. JSON mode still takes
        # lists for the models' tuples. The loader's data is JSON-safe (no NaN, string keys).
        spec = Spec.model_validate_json(json_text(document.data), strict=True)
    except ValidationError as error:
        token = VISIBLE.set(LAST_DEFINED.get())  # the spec's own block kinds, for hints about their fields
        try:
            raise SpecError(diagnostics(document, error)) from None
        finally:
            VISIBLE.reset(token)
    spec._document = document
    return spec


def diagnostics(document: Document, error: ValidationError) -> list[Diagnostic]:
    grouped: dict[SpecPath, list[dict]] = defaultdict(list)
    defined = document.data.get("blocks") if isinstance(document.data, dict) else None
    for item in error.errors(include_url=False):
        if (item["type"] == "union_tag_invalid" and isinstance(defined, dict)
                and item.get("ctx", {}).get("tag") in defined):
            continue  # a kind the spec defines, whose definition has errors: those say what to fix
        grouped[_data_path(document.data, item["loc"])].append(item)
    conflicts = {where: keys for path in grouped for where, keys in [_conflict(document.data, path)] if keys}
    placed = [_conflict_diagnostic(document, where, keys) for where, keys in conflicts.items()]
    return placed + [_diagnostic(document, path, items) for path, items in grouped.items()
                     if not _is_echo(path, items, grouped)
                     and not _is_misspelt(document.data, path, items, grouped)
                     and not any(path[:len(where)] == where for where in conflicts)]


# Where a mapping stands decides what it may be, and so which keys choose its form there: a stage is
# `block: KIND` or `blocks: [...]`, an entry of a list stage is a block or a layer, a stem or head
# entry is a layer. (Places are "top", "input", "stage", "entry" and "layer"; see `_place`.)
_FORM_KEYS = ("layer", "block", "blocks")
_FORMS_AT = {"stage": ("block", "blocks"), "entry": ("block", "layer"), "layer": ("layer",)}
_FORMS_TEXT = {
    "stage": "a stage is `block: KIND` (one block kind, `repeats` times) or `blocks: [...]` (a list of blocks "
             "and layers)",
    "entry": "an entry of `blocks:` is one block (`block: KIND`) or one layer (`layer: KIND`)",
}
_EXPECTED_FORM = {"stage": "a block (`block:`) or a list (`blocks:`)",
                  "entry": "a block (`block:`) or a layer (`layer:`)", "layer": "a layer (`layer:`)"}


def _place(path: SpecPath) -> str | None:
    """What the mapping at `path` is in the language, or None for a path that is no mapping's."""
    match path:
        case ():
            return "top"
        case ("input",):
            return "input"
        case ("stages", int()):
            return "stage"
        case ("stages", int(), "blocks", int()):
            return "entry"
        case ("stem" | "head", int()):
            return "layer"
    return None


def _conflict(data: object, path: SpecPath) -> tuple[SpecPath, tuple[str, ...] | None]:
    """The innermost stage or entry on `path` written with two keys that each choose its form, if any."""
    for end in range(len(path), -1, -1):
        mapping = _value_at(data, path[:end])
        if _place(path[:end]) in _FORMS_AT and isinstance(mapping, dict):
            keys = tuple(key for key in _FORM_KEYS if key in mapping)
            if len(keys) > 1:
                return path[:end], keys
    return path, None


def _conflict_diagnostic(document: Document, where: SpecPath, keys: tuple[str, ...]) -> Diagnostic:
    place = str(_place(where))  # a stage, an entry or a layer: the places `_conflict` looks at
    chosen = [key for key in keys if key in _FORMS_AT[place]]
    misplaced = [f"remove `{key}:` ({_misplaced(key, where)})" for key in keys if key not in _FORMS_AT[place]]
    if len(chosen) > 1:  # two forms this place allows: the user must pick one
        return document.diagnostic(
            where, f"expected either `{chosen[0]}` or `{chosen[1]}`, found both",
            "; ".join([*misplaced, f"{_FORMS_TEXT[place]}: remove `{chosen[0]}:` or `{chosen[1]}:`"]))
    found = " and ".join(f"`{key}`" for key in keys)
    return document.diagnostic(where, f"expected {_EXPECTED_FORM[place]}, found {found}", "; ".join(misplaced))


def _misplaced(key: str, where: SpecPath) -> str:
    """Why the form key `key` cannot choose the mapping at `where`, and where what it makes belongs."""
    if key == "layer":  # only at a stage
        return _LAYER_AS_STAGE
    if _place(where) == "entry":  # `blocks`
        return "list stages do not nest: write those entries in this stage's own `blocks:` list"
    return f"`{where[0]}` holds only layers: blocks and list stages belong in `stages`"


def _is_echo(path: SpecPath, items: list[dict], grouped: dict[SpecPath, list[dict]]) -> bool:
    """An error that only echoes a deeper one: Pydantic calls a list "too short" when one of its items
    failed, and for `size: [8, -8]` also reports that the list is not an integer (the union's other
    member). The deeper error is the one that says what to fix."""
    return (all(item["type"] == "too_short" or item["type"].endswith("_type") for item in items)
            and any(other[:len(path)] == path and len(other) > len(path) for other in grouped))


def _is_misspelt(data: object, path: SpecPath, items: list[dict], grouped: dict[SpecPath, list[dict]]) -> bool:
    """A missing key that the mapping has under a misspelt name (`nmae: t`): the unknown key's error
    says "did you mean `name`?", and "missing required key `name`" would only repeat it."""
    hint = f"did you mean `{path[-1]}`?" if path else None
    return all(item["type"] == "missing" for item in items) and any(
        other[:-1] == path[:-1] and other != path and all(item["type"] == "extra_forbidden" for item in found)
        and _unknown_key_hint(data, other) == hint for other, found in grouped.items())


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


def _model_at(data: object, path: SpecPath) -> type[BaseModel] | None:
    """The model that validates the mapping at `path`, as the discriminators choose it there."""
    place = _place(path)
    mapping = _value_at(data, path)
    if place in ("top", "input"):
        return Spec if place == "top" else InputSpec
    if not isinstance(mapping, dict) or place is None:
        return None
    if place == "stage" and "blocks" in mapping:
        return ListStage
    tag = "layer" if place == "layer" or (place == "entry" and "layer" in mapping) else "block"
    kind, registry = mapping.get(tag), _TAGS[tag]
    if tag == "block":
        return find_kind(kind)  # built in, registered from Python, or defined in YAML
    if kind not in registry:  # also a non-string kind: the registry refuses it
        return None
    return registry[kind]


_NAMED: dict[type[BaseModel], str] = {Spec: "the spec's top level", InputSpec: "`input`",
                                      ListStage: "a list stage"}


def _describe(model: type[BaseModel]) -> str:
    """A model as the user knows it: the spec's top level, `input`, a list stage, a `conv` layer."""
    if model in _NAMED:
        return _NAMED[model]
    tag = "layer" if "layer" in model.model_fields else "block"
    kind = get_args(model.model_fields[tag].annotation)[0]
    return f"a `{kind}` {tag}"


def _owners(key: str) -> str | None:
    """Where in the language `key` is a key, e.g. "every block and the layers `conv`, `linear`"."""
    owners = [text + (" (an entry of `stages` with `blocks:`)" if model is ListStage else "")
              for model, text in _NAMED.items() if key in model.model_fields]
    for tag, registry in _TAGS.items():
        kinds = [f"`{kind}`" for kind, model in registry.items() if key in model.model_fields]
        if len(kinds) == len(registry.names()):
            owners.append(f"every {tag}")
        elif kinds:
            owners.append(f"the {tag}{'s' if len(kinds) > 1 else ''} {', '.join(kinds)}")
    if len(owners) < 2:
        return owners[0] if owners else None
    return ", ".join(owners[:-1]) + " and " + owners[-1]


def _unknown_key_hint(data: object, path: SpecPath) -> str | None:
    """A close spelling of a key this mapping may have and has not; else where the key belongs; else
    this mapping's keys. (Suggesting a key already written, `names` -> `name`, would point nowhere.)"""
    key, model = path[-1], _model_at(data, path[:-1])
    allowed = list(model.model_fields) if model else []
    written = _value_at(data, path[:-1]) or {}
    close = did_you_mean(key, [other for other in allowed if other not in written])
    if close:
        return close
    listing = f"allowed keys: {', '.join(allowed)}" if allowed else None
    owners = _owners(key) if isinstance(key, str) else None
    if owners and model:
        return f"`{key}` is a key of {owners}, not of {_describe(model)}; {listing}"
    return listing


def _diagnostic(document: Document, path: SpecPath, items: list[dict]) -> Diagnostic:
    item = items[0]
    kind = item["type"]
    found = _value_at(document.data, path)
    if kind == "archspec":  # archspec's own check (archspec/definitions.py): its words and hint as written
        return document.diagnostic(path, item["ctx"]["message"], item["ctx"].get("hint"))
    if kind == "extra_forbidden":
        return document.diagnostic(path, f"unknown key `{path[-1]}`", _unknown_key_hint(document.data, path),
                                   at_key=True)
    if kind == "union_tag_invalid":
        tag = item["ctx"]["discriminator"].strip("'")
        # A block kind's error comes from archspec/spec.py with every kind the spec can use.
        names = (item["ctx"]["expected_tags"].split(", ") if tag == "block" and "expected_tags" in item["ctx"]
                 else _TAGS[tag].names() if tag in _TAGS else [])
        given = _value_at(document.data, (*path, tag))
        hint = _other_kind_hint(path, tag, given) or did_you_mean(given, names)
        listing = f"expected one of: {', '.join(names)}"
        word = document.boolean_word((*path, tag), given)
        shown = (f"`{given}`" if isinstance(given, str) else f"`{word}` (YAML reads it as {_show(given)})" if word
                 else f"{_show(given)} (a name is needed)")
        return document.diagnostic((*path, tag), f"unknown {_WHAT.get(tag, tag)} {shown}; {listing}", hint)
    if kind == "union_tag_not_found":
        return _missing_form(document, path, item["ctx"]["discriminator"].strip("'"))
    if kind == "missing" and found is not None:  # a missing item of a fixed-length list
        return document.diagnostic(path, f"expected {_expected({'type': 'too_short', 'msg': ''}, path)}, "
                                   f"found {_show(found)}")
    if kind == "missing":
        return document.diagnostic(path, f"missing required key `{path[-1]}`",
                                   f"add `{path[-1]}: ...` here")
    if kind == "value_error" and isinstance(found, dict):  # a rule across fields: say it as it is
        return document.diagnostic(path, _expected(item, path))
    expected = " or ".join(dict.fromkeys(_expected(i, path) for i in items))
    word = document.boolean_word(path, found)
    if word is not None:  # `name: yes`: "found true" would not be what the user sees in the file
        quote = any(item["type"] == "string_type" for item in items)
        return document.diagnostic(path, f"expected {expected}, found `{word}`, which YAML reads as {_show(found)}",
                                   f'quote it to write the word: "{word}"' if quote else _type_hint(found, items))
    return document.diagnostic(path, f"expected {expected}, found {_show(found)}",
                               _type_hint(found, items) or _bare_kind_hint(path, found))


def _other_kind_hint(path: SpecPath, tag: str, given: object) -> str | None:
    """For a kind of the other registry (`block: relu`, `layer: basic`): what to write instead."""
    other = "layer" if tag == "block" else "block"
    if given not in _TAGS[other]:
        return None
    place = _place(path)
    if place == "entry":
        return f"`{given}` is a {other} kind: write `{other}: {given}` instead of `{tag}: {given}`"
    if place == "stage":
        return f"`{given}` is a layer kind, and {_LAYER_AS_STAGE.replace('{layer: ...}', f'{{layer: {given}}}')}"
    return f"`{given}` is a block kind, and {_misplaced('block', path)}"


def _bare_kind_hint(path: SpecPath, found: object) -> str | None:
    """For a kind written where a mapping belongs (`- relu`): the mapping to write."""
    place = _place(path)
    if place not in _FORMS_AT:
        return None
    if found in LAYERS:
        return _other_kind_hint(path, "block", found) if place == "stage" else f"write `{{layer: {found}}}`"
    if found in BLOCKS:
        return (_other_kind_hint(path, "layer", found) if place == "layer"
                else f"write `{{block: {found}, ...}}` with the block's fields")
    return None


def _missing_form(document: Document, path: SpecPath, tag: str) -> Diagnostic:
    """A stage or entry without the key that chooses its form: the key it may have written in the
    wrong place, or the kind whose fields it has."""
    mapping = _value_at(document.data, path)
    place = _place(path)
    tags = ["block", "layer"] if place == "entry" else [tag]
    message = (f"missing `block` or `layer`: expected a block ({', '.join(BLOCKS.names())}) or a layer "
               f"({', '.join(LAYERS.names())})" if place == "entry"
               else f"missing `{tag}`: expected one of {', '.join(_TAGS[tag].names())}")
    keys = set(mapping) - {"name"} if isinstance(mapping, dict) else set()
    wrong = [key for key in _FORM_KEYS if key in keys]
    if wrong:  # one form key, not one of this place's (two are a conflict, reported as such)
        return document.diagnostic(path, message, _misplaced(wrong[0], path))
    misspelt = [(key, close) for key in sorted(keys) for close in [closest_name(key, _FORMS_AT[str(place)])]
                if close]
    if misspelt:  # `lyaer: conv`: Pydantic stops at the missing tag, so this is the only error about it
        return document.diagnostic(path, message, f"rename `{misspelt[0][0]}:` to `{misspelt[0][1]}:`")
    fits = [f"`{each}: {kind}`" for each in tags for kind, model in _TAGS[each].items()
            if keys and keys <= set(model.model_fields)]
    hint = (f"add {fits[0]}" if fits
            else f"add {' or '.join(f'`{each}: KIND`' for each in tags)} with one of the kinds above")
    return document.diagnostic(path, message, hint)


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
    # Only where the float holds the whole number exactly as written: 1e30 is 1000000000000000019884624838656
    if isinstance(found, float) and "int_type" in kinds:
        return (f"write {int(found)}, without the decimal point" if found.is_integer() and abs(found) <= 2 ** 53
                else "write a whole number")
    return None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


_LAYER_AS_STAGE = "a stage is a block, not a layer: write the layer in a list stage, {blocks: [{layer: ...}]}"

# What a list-valued key holds, for "expected a list of ..." messages, and what one item looks like.
_LISTS = {"stem": "layers", "head": "layers", "stages": "stages", "blocks": "blocks and layers",
          "nodes": "nodes", "from": "node names", "requires": "`${...}` conditions"}  # a definition's
_ITEMS = {"stem": "a layer such as {layer: relu}", "head": "a layer such as {layer: relu}",
          "stages": "a stage such as {block: basic, width: 64} or {blocks: [...]}",
          "blocks": "a block such as {block: basic, width: 64} or a layer such as {layer: relu}"}


def _expected(item: dict, path: SpecPath = ()) -> str:
    message: str = item["msg"]
    for prefix in ("Input should be ", "Value error, ", "String should have ", "String should "):
        if message.startswith(prefix):
            message = message[len(prefix):]
            break
    if item["type"] == "string_pattern_mismatch" and path and path[-1] == "copy_names":  # not "a name": a pattern
        return ("a module name pattern whose last part starts with a letter or `_` and holds one `{index}` "
                "(0, 1, ...) or `{number}` (1, 2, ...): `denselayer{number}`, `block1-{index}`, "
                "`denseblock1.denselayer{number}`")
    if item["type"] == "string_pattern_mismatch":
        dotted = "\\." in item["ctx"]["pattern"]  # a module name: dots nest it (conv1.0)
        return (f"a name of letters, digits and `_`{', dotted to nest (conv1.0)' if dotted else ''} "
                f"(pattern {item['ctx']['pattern']})")
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
                ("a valid boolean", "true or false"), ("a valid string", "a string"),
                # Python mode's words (a layer a block written in YAML makes): the value is shown after
                (", got a number with a fractional part", ""), (", unable to parse string as an integer", "")]
_COMPARISONS = [("greater than or equal to ", ">= "), ("less than or equal to ", "<= "),
                ("greater than ", "> "), ("less than ", "< ")]


def _show(value: object) -> str:
    """A found value as the user wrote it in YAML: null, true, "64" (quoted: a string), [1, 2]."""
    if isinstance(value, dict):
        return "a mapping"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) < 60 else text[:57] + "..."
