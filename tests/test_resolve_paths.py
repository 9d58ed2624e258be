"""The resolve pass visits only the values where the loader saw `${` (Document.expression_paths),
copying only the containers on their way. It must give exactly what the full walk of the document
gives: the same data, the same expressions recorded, the same errors in the same order, whatever the
overrides replaced or added, and the source document unchanged."""

from __future__ import annotations

import copy
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from archspec.imports import with_imports
from archspec.loader import dump, load_document
from archspec.overrides import _Resolver, to_overrides
from archspec.testing import valid_specs
from conftest import SPECS

# Written in place of a number: resolves, resolves to something invalid, or fails with an error.
EXPRESSIONS = ["${base}", "${base * 2}", "${base // 3 + 1}", "${unknown}", "${base / 0}", "${ (base }",
               "${divisible(base * 3, 8)}", "width ${base}"]


def _number_paths(value: object, path: tuple = ()) -> list[tuple]:
    if isinstance(value, dict):
        return [found for key, item in value.items() if key not in ("vars", "blocks")
                for found in _number_paths(item, (*path, key))]
    if isinstance(value, list):
        return [found for index, item in enumerate(value) for found in _number_paths(item, (*path, index))]
    return [path] if isinstance(value, int) and not isinstance(value, bool) else []


def _set(document: dict, path: tuple, value: object) -> None:
    target = document
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value


def _both(text: str, overrides: list[str]) -> tuple[tuple, tuple]:
    """(visiting the recorded paths, walking everything): data, expressions and errors of each."""
    source = with_imports(load_document(text))
    before = copy.deepcopy(source.data)
    results = []
    for document in (source, replace(source, expression_paths=None)):
        resolver = _Resolver(document, to_overrides(overrides))
        resolved = resolver.run()
        results.append((resolved.data, resolved.expressions, [error.render() for error in resolver.errors],
                        resolver.failed))
    assert source.data == before  # the source stays as loaded (derived specs start from it again)
    return results[0], results[1]


@settings(max_examples=60, deadline=None)
@given(data=st.data(), document=valid_specs(max_stages=2))
def test_visiting_the_recorded_paths_equals_the_full_walk(data: st.DataObject, document: dict) -> None:
    document["vars"] = {"base": data.draw(st.integers(1, 64))}
    numbers = _number_paths(document)
    for path in data.draw(st.lists(st.sampled_from(numbers), max_size=6, unique=True)) if numbers else ():
        _set(document, path, data.draw(st.sampled_from(EXPRESSIONS)))
    settable = ["base=8", "head[-1]={layer: linear, width: 3}", "stages[0].repeats=1", "input.size=16",
                "stages[5].width=4", "vars.base=2"]
    overrides = data.draw(st.lists(st.sampled_from(settable), max_size=3))
    text = dump(document)
    assert load_document(text).expression_paths is not None  # dump writes no merge key
    visited, walked = _both(text, overrides)
    assert visited == walked


def test_the_shipped_specs_resolve_alike_either_way() -> None:
    recorded = []
    for path in sorted(SPECS.glob("*.yaml")):
        visited, walked = _both(path.read_text(), [])
        assert visited == walked, path.name
        if load_document(path).expression_paths and visited[1]:
            recorded.append(path.name)
    assert len(recorded) >= 3, recorded  # the specs with vars and no merge key take the new way


def test_a_merge_key_falls_back_to_the_full_walk() -> None:
    """`<<:` puts the merged keys before the written ones: the recorded order would not be the
    document's, so the loader records nothing and the pass walks everything."""
    text = ("name: m\nvars: {w: 4}\ninput: {channels: 1, size: 8}\n"
            "defaults: &d {layer: conv, width: \"${w}\", kernel: 3}\nstem:\n  - {<<: *d, padding: \"${w // 4}\"}\n")
    assert load_document(text).expression_paths is None
    assert load_document(text.replace("<<: *d, ", "")).expression_paths == (
        ("defaults", "width"), ("stem", 0, "padding"))
