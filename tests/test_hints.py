"""Hints that point the right way: every hint names something the user can write at that place.

The four cases of the reliability issue, then a sweep: for misspelt, misplaced and doubled keys and
kinds at every place of a spec (the top level, `input`, a stem or head layer, a block stage, a list
stage, a list stage's block and layer entries), the test reads the hint, applies what it suggests
to the document, and checks that this error goes away. A hint it cannot read fails the test.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator

import pytest
from pydantic import BaseModel

import archspec
from archspec import SpecError
from archspec.blocks import BLOCKS
from archspec.errors import Diagnostic, did_you_mean, edit_distance
from archspec.layers import LAYERS
from archspec.loader import dump
from archspec.spec import InputSpec, ListStage, Spec

Document = dict

BASE: Document = {
    "name": "t", "input": {"channels": 3, "size": 32},
    "stem": [{"layer": "conv", "width": 8, "kernel": 3}],
    "stages": [{"block": "basic", "width": 8},
               {"blocks": [{"block": "vgg", "width": 8}, {"layer": "relu"}]}],
    "head": [{"layer": "global_avgpool"}, {"layer": "flatten"}, {"layer": "linear", "width": 10}],
}
# Every mapping of BASE that the language gives a meaning, by path.
PLACES = [(), ("input",), ("stem", 0), ("stages", 0), ("stages", 1), ("stages", 1, "blocks", 0),
          ("stages", 1, "blocks", 1), ("head", 2)]
ALL_KEYS = sorted({key for model in (Spec, InputSpec, ListStage, *LAYERS.models(), *BLOCKS.models())
                   for key in model.model_fields})


def errors_of(document: Document) -> list[Diagnostic]:
    try:
        return list(archspec.check(archspec.load(dump(document))).errors)
    except SpecError as error:
        return list(error.errors)


def at(document: Document, path: tuple) -> dict:
    for part in path:
        document = document[part]
    return document


def model_at(document: Document, path: tuple) -> type[BaseModel]:
    """The model that gives the mapping at `path` (of a valid document) its keys."""
    mapping = at(document, path)
    if path in ((), ("input",)):
        return Spec if not path else InputSpec
    if "blocks" in mapping:
        return ListStage
    return LAYERS[mapping["layer"]] if "layer" in mapping else BLOCKS[mapping["block"]]


def test_the_base_document_is_valid():
    assert errors_of(BASE) == []


# -- the four cases of the issue ---------------------------------------------------------------------

def only_error(document: Document) -> Diagnostic:
    errors = errors_of(document)
    assert len(errors) == 1, [e.render() for e in errors]
    return errors[0]


def test_a_stage_with_block_and_blocks_is_offered_only_stage_forms():
    document = copy.deepcopy(BASE)
    document["stages"][0]["blocks"] = [{"layer": "relu"}]
    error = only_error(document)
    assert error.message == "expected either `block` or `blocks`, found both"
    assert "`layer:" not in error.hint  # a stage is never a layer
    assert "remove `block:` or `blocks:`" in error.hint


def test_a_block_in_the_head_is_told_where_blocks_go_not_to_add_a_layer_kind():
    document = copy.deepcopy(BASE)
    document["head"].insert(0, {"block": "basic", "width": 8})
    error = only_error(document)
    assert error.path_text == "head[0]"
    assert "add `layer" not in error.hint
    assert error.hint == "`head` holds only layers: blocks and list stages belong in `stages`"


def test_an_unknown_kind_far_from_every_name_gets_no_guess_and_the_list_of_kinds():
    document = copy.deepcopy(BASE)
    document["head"][0] = {"layer": "concat"}
    error = only_error(document)
    assert error.hint is None  # `conv` is three edits away: no "did you mean `conv`?"
    assert error.message.startswith("unknown layer kind `concat`; expected one of: conv, batchnorm")
    assert all(kind in error.message for kind in LAYERS.names())


@pytest.mark.parametrize("key, owner", [("repeats", "every block"),
                                        ("layer", "every layer"), ("channels", "`input`")])
def test_a_key_of_another_place_says_where_it_belongs_instead_of_suggesting_itself(key: str, owner: str):
    document = copy.deepcopy(BASE)
    document[key] = 1
    error = only_error(document)
    assert f"`{key}`?" not in error.hint
    assert error.hint.startswith(f"`{key}` is a key of {owner}")
    assert "not of the spec's top level" in error.hint


def test_did_you_mean_stays_within_a_few_edits_and_never_offers_the_name_itself():
    assert edit_distance("widht", "width") == 1  # a swap is one edit
    assert edit_distance("concat", "conv") == 3
    assert did_you_mean("concat", LAYERS.names()) is None
    assert did_you_mean("botleneck", BLOCKS.names()) == "did you mean `bottleneck`?"
    assert did_you_mean("Conv", LAYERS.names()) == "did you mean `conv`?"
    assert did_you_mean("X", ["A", "B", "C"]) is None  # one letter changed is every letter
    assert did_you_mean("stides", ["stages", "stride"]) == "did you mean `stride`?"
    assert did_you_mean("blocks", ["blocks", "block"]) == "did you mean `block`?"


def test_a_misspelt_key_is_not_offered_a_key_already_written():
    document = copy.deepcopy(BASE)
    document["names"] = "u"  # `name` is already there
    error = only_error(document)
    assert "did you mean" not in error.hint


def test_a_kind_written_as_a_bare_name_is_shown_as_the_mapping_to_write():
    document = copy.deepcopy(BASE)
    document["head"][0] = "global_avgpool"
    assert only_error(document).hint == "write `{layer: global_avgpool}`"


# -- the sweep: apply each hint, the error goes away -----------------------------------------------------

def misspellings(key: str) -> list[str]:
    """Two typos one edit away: a letter doubled, two neighbours swapped."""
    typos = [key[:1] + key[0] + key[1:]]
    if len(key) > 3:
        typos.append(key[:1] + key[2] + key[1] + key[3:])
    return [typo for typo in typos if typo != key]


def cases() -> Iterator[tuple[str, Document, tuple]]:
    """(id, a broken document, the path of the mapping that was broken)."""
    for place in PLACES:
        model = model_at(BASE, place)
        here = at(BASE, place)
        for key in here:  # a misspelt key
            for typo in misspellings(key):
                document = copy.deepcopy(BASE)
                mapping = at(document, place)
                mapping[typo] = mapping.pop(key)
                yield f"{place}:{key}->{typo}", document, place
        for key in ALL_KEYS:  # a key of another place
            if key not in model.model_fields:
                document = copy.deepcopy(BASE)
                at(document, place)[key] = copy.deepcopy(_value_for(key))
                yield f"{place}:+{key}", document, place
        for tag in ("layer", "block"):  # a kind misspelt, of the other registry, or far from all
            if tag not in here:
                continue
            other = BLOCKS if tag == "layer" else LAYERS
            for kind in [*misspellings(here[tag]), *other.names()[:3], "concat"]:
                document = copy.deepcopy(BASE)
                at(document, place)[tag] = kind
                yield f"{place}:{tag}={kind}", document, place
        for tag in ("layer", "block", "blocks"):  # the key that chooses the form, missing
            if tag in here and len(here) > 1:
                document = copy.deepcopy(BASE)
                del at(document, place)[tag]
                yield f"{place}:-{tag}", document, place


def _value_for(key: str) -> object:
    """A value of the right type for `key` where it is valid, so that only its place is wrong."""
    return {"blocks": [{"layer": "relu"}], "block": "basic", "layer": "relu", "input": BASE["input"],
            "stem": [], "stages": [], "head": [], "c2": [4, 4], "c3": [4, 4], "size": 3,
            "kernel": 3}.get(key, 1)


CASES = list(cases())


@pytest.mark.parametrize("document, place", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_applying_the_hint_removes_the_error(document: Document, place: tuple):
    errors = errors_of(document)
    assert errors, "the broken document must fail"
    for error in errors:
        if error.hint is None:  # nothing close to suggest: the message lists what exists instead
            assert error.message.startswith("unknown") and "expected one of: " in error.message
            continue
        fixes = list(apply_hint(document, error))
        assert fixes, f"a hint that names nothing to write: {error.render()}"
        for fixed in fixes:
            assert (error.path_text, error.message) not in {(e.path_text, e.message) for e in errors_of(fixed)}, \
                (error.render(), dump(fixed))


def apply_hint(document: Document, error: Diagnostic) -> Iterator[Document]:
    """Every document the hint tells the user to write (one per alternative it offers)."""
    hint, path = error.hint or "", error.path
    if match := re.fullmatch(r"did you mean `([^`]+)`\?", hint):
        yield _renamed(document, error, match[1])
        return
    if "is a key of" in hint:
        _check_owners(document, path, hint)
        yield from _moved_key(document, path)
        return
    for key in re.findall(r"remove `(\w+):`", hint):
        fixed = copy.deepcopy(document)
        del at(fixed, path)[key]
        yield fixed
    if match := re.fullmatch(r"add `(\w+): (\w+|\.\.\.)`( here)?", hint):
        fixed = copy.deepcopy(document)
        where = path[:-1] if match[3] else path  # a missing required key is reported at its own path
        at(fixed, where)[match[1]] = _value_for(match[1]) if match[2] == "..." else match[2]
        yield fixed
    if match := re.fullmatch(r"rename `(\w+):` to `(\w+):`", hint):
        fixed = copy.deepcopy(document)
        mapping = at(fixed, path)
        mapping[match[2]] = mapping.pop(match[1])
        yield fixed
    if match := re.search(r"write `(\w+): (\w+)` instead of `(\w+): \w+`", hint):
        fixed = copy.deepcopy(document)
        mapping = at(fixed, path[:-1])
        del mapping[match[3]]
        mapping[match[1]] = match[2]
        yield fixed
    if match := re.fullmatch(r"write `\{layer: (\w+)\}`", hint):
        fixed = copy.deepcopy(document)
        at(fixed, path[:-1])[path[-1]] = {"layer": match[1]}
        yield fixed
    if "belong in `stages`" in hint and "remove `" not in hint:  # move the stem or head entry to the stages
        fixed = copy.deepcopy(document)
        entry_path = path[:2]
        entry = at(fixed, entry_path[:1]).pop(entry_path[1])
        fixed["stages"].append(entry if "block" in entry else {"block": entry.pop("layer"), **entry})
        yield fixed
    if "write the layer in a list stage" in hint and "remove `" not in hint:
        fixed = copy.deepcopy(document)
        stage = at(fixed, path[:2])
        at(fixed, ("stages",))[path[1]] = {"blocks": [{"layer": stage.pop("block", None) or stage.pop("layer"),
                                                       **stage}]}
        yield fixed
    if "list stages do not nest" in hint and "remove `" not in hint:
        fixed = copy.deepcopy(document)
        entries = at(fixed, path[:3])
        entries[path[3]:path[3] + 1] = at(entries, (path[3], "blocks"))
        yield fixed


def _renamed(document: Document, error: Diagnostic, name: str) -> Document:
    """The document with the unknown key renamed, or the misspelt value replaced, by `name`."""
    fixed = copy.deepcopy(document)
    parent = at(fixed, error.path[:-1])
    if error.message.startswith("unknown key"):
        parent[name] = parent.pop(error.path[-1])
    else:
        parent[error.path[-1]] = name
    return fixed


def _moved_key(document: Document, path: tuple) -> Iterator[Document]:
    """A key that belongs elsewhere: without it here the error goes away (where it goes is checked
    by `_check_owners`)."""
    fixed = copy.deepcopy(document)
    del at(fixed, path[:-1])[path[-1]]
    yield fixed


OWNER_PHRASES = {"the spec's top level": [Spec], "`input`": [InputSpec], "a list stage": [ListStage],
                 "every layer": list(LAYERS.models()), "every block": list(BLOCKS.models())}


def _check_owners(document: Document, path: tuple, hint: str) -> None:
    """`K` is a key of OWNERS, not of HERE: every owner named has `K`, and HERE is where it was written."""
    key = path[-1]
    owners, here = re.fullmatch(rf"`{key}` is a key of (.*), not of (.*?); allowed keys: .*", hint).groups()
    named: list[type[BaseModel]] = [model for phrase, models in OWNER_PHRASES.items() if phrase in owners
                                    for model in models]
    for registry, word in ((LAYERS, "layer"), (BLOCKS, "block")):
        for listing in re.findall(rf"the {word}s? ((?:`\w+`(?:, )?)+)", owners):
            named += [registry[kind] for kind in re.findall(r"`(\w+)`", listing)]
    assert named and all(key in model.model_fields for model in named), hint
    model = model_at(document, path[:-1])
    assert key not in model.model_fields
    expected_here = {Spec: "the spec's top level", InputSpec: "`input`", ListStage: "a list stage"}.get(model)
    assert here == (expected_here or f"a `{at(document, path[:-1]).get('layer') or at(document, path[:-1])['block']}`"
                    f" {'layer' if 'layer' in model.model_fields else 'block'}")
