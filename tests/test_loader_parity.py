"""The loader reads YAML with libyaml's C parser where PyYAML has it, else with PyYAML's pure-Python
parser. Both must give the same data and places; where they word a syntax error differently, both
must still give a clean, located error. The hostile-input tests run on the default (C) loader.
PyYAML's wheels include libyaml on every platform archspec supports: without it these tests fail,
on purpose, to say that this PyYAML loads specs four times slower."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest
import yaml
from test_fuzz import mutate_bytes

from archspec import SpecError, loader_compose
from archspec.loader import Document, load_document
from conftest import SPECS

SHIPPED = sorted(SPECS.glob("*.yaml"))
MUTANTS = 800

# Errors whose place and wording the loader makes equal under both parsers.
SAME_ERRORS = {
    "tab": "name: x\ninput:\n\tchannels: 3\n",
    "control character after non-ASCII": 'name: x\ndescription: "é\x01"\n',
    "NUL": "name: a\x00b\n",
    "second document": "name: x\n---\nname: y\n",
    "undefined alias": "name: *a\n",
    "duplicate key": "name: x\nname: y\n",
    "python tag": "name: !!python/name:os.system\n",
    "deep flow": "name: " + "[" * 200 + "]" * 200 + "\n",
    "deep block": "".join("  " * i + "a:\n" for i in range(100)) + "  " * 100 + "b: 1\n",
    # libyaml reaches its own nesting limit on these before archspec's guard sees level 65.
    "deep flow on one line": "name: " + "[" * 50_000 + "]" * 50_000 + "\n",
    "deep flow never closed": "name: " + "[" * 50_000 + "\n",
    "alias to itself": "a: &a [*a]\n",
    "alias bomb": "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
        f"{b}: &{b} [{', '.join([f'*{a}'] * 10)}]\n" for a, b in zip("abcdef", "bcdefg")),
    "nan": "name: x\neps: .nan\n",
    "date stays a string, key not a name": "2024-01-01: x\n1: y\n",
}


def outcome(source: str | Path) -> Document | list[tuple[int | None, int | None, str, str | None]]:
    try:
        return load_document(source)
    except SpecError as error:
        return [(d.line, d.column, d.message, d.hint) for d in error.errors]


def both(source: str | Path, monkeypatch: pytest.MonkeyPatch) -> tuple[object, object]:
    assert loader_compose._LibyamlSpecLoader is not None, \
        "this PyYAML has no libyaml: archspec falls back to PyYAML's pure-Python parser"
    fast = outcome(source)
    with monkeypatch.context() as patch:
        patch.setattr(loader_compose, "_LibyamlSpecLoader", None)
        slow = outcome(source)
    return fast, slow


def value_at(data: object, path: tuple) -> object:
    for part in path:
        data = data[part] if isinstance(data, (dict, list)) else None  # type: ignore[index]
    return data


@pytest.mark.parametrize("path", SHIPPED, ids=[path.stem for path in SHIPPED])
def test_shipped_specs_load_identically(path: Path, monkeypatch: pytest.MonkeyPatch):
    fast, slow = both(path, monkeypatch)
    assert isinstance(fast, Document) and isinstance(slow, Document)
    assert (fast.data, fast.marks, fast.key_marks) == (slow.data, slow.marks, slow.key_marks)


@pytest.mark.parametrize("name", sorted(SAME_ERRORS))
def test_errors_have_the_same_place_and_words(name: str, monkeypatch: pytest.MonkeyPatch):
    fast, slow = both(SAME_ERRORS[name], monkeypatch)
    assert isinstance(fast, list) and fast, f"{name}: the C loader accepted it"
    assert fast == slow


def test_deep_nesting_is_refused_in_a_thread_with_a_small_stack():
    """libyaml's own composer recurses in C: it crashed the process on 900 nested brackets in a
    thread with a 256 KiB stack; the guarded Python composer refuses them at depth 64."""
    outcome_in_thread: list[object] = []
    previous = threading.stack_size(256 * 1024)
    try:
        thread = threading.Thread(target=lambda: outcome_in_thread.append(
            outcome("name: " + "[" * 900 + "]" * 900 + "\n")))
        thread.start()
        thread.join()
    finally:
        threading.stack_size(previous)
    (errors,) = outcome_in_thread
    assert isinstance(errors, list) and "nests deeper than 64 levels" in errors[0][2]


class _ParserWithItsOwnNestingLimit(loader_compose._PythonSpecLoader):  # type: ignore[misc]
    """A parser that, like libyaml, refuses deep nesting itself, in its own words, while scanning
    ahead of the events it has given: what a future libyaml or PyYAML may do at any depth."""

    limit = 0

    def fetch_flow_collection_start(self, token_class: type) -> None:
        if self.flow_level >= self.limit:
            raise yaml.scanner.ScannerError("while scanning", self.get_mark(), "zu tief", self.get_mark())
        super().fetch_flow_collection_start(token_class)


@pytest.mark.parametrize("limit", [64, 100, 1000])
def test_a_parser_that_refuses_deep_nesting_itself_gives_way_to_the_guard(
        limit: int, monkeypatch: pytest.MonkeyPatch):
    """Whatever the parser's own nesting limit (from 64 flow levels up: a lower one would refuse
    specs that archspec accepts) and wording, a document deeper than 64 levels gets archspec's
    message at the place of its first node deeper than that."""
    monkeypatch.setattr(_ParserWithItsOwnNestingLimit, "limit", limit)
    monkeypatch.setattr(loader_compose, "_LibyamlSpecLoader", _ParserWithItsOwnNestingLimit)
    for text, line_of_brackets in (("name: " + "[" * 5_000 + "]" * 5_000 + "\n", 1),
                                   ("a: 1\nname: " + "[" * 5_000 + "\n", 2)):
        (line, column, message, hint), = outcome(text)
        assert "nests deeper than 64 levels" in message and "zu tief" not in message
        assert (line, column) == (line_of_brackets, len("name: [") + 63)  # the 64th `[`: level 65
        assert hint is not None and "nest a few levels" in hint


def test_mutants_load_to_the_same_data_and_both_refuse_cleanly(monkeypatch: pytest.MonkeyPatch):
    """Seeded byte mutations of the shipped specs. Where both parsers accept a mutant, the data is
    equal and every place is on the same line, at most one column apart (they count a stray U+FEFF
    differently). Where they differ on
    accepting it (libyaml allows `?` keys in flow mappings, PyYAML does not), the refusal is clean.
    An empty value (`{width: }`, or a document that is only `---`) has no text to point at: the two
    parsers place it differently, and the comparison skips it."""
    rng = random.Random(20_261_122)
    sources = [path.read_bytes() for path in SHIPPED]
    counts = {"both accept": 0, "both refuse": 0, "one refuses": 0}
    for case in range(MUTANTS):
        raw = mutate_bytes(rng, rng.choice(sources))
        text = raw.decode("utf-8", errors="replace")
        fast, slow = both(text if "\n" in text else text + "\n", monkeypatch)
        if isinstance(fast, Document) and isinstance(slow, Document):
            counts["both accept"] += 1
            assert fast.data == slow.data, f"case {case}: {text[:300]!r}"
            for marks_fast, marks_slow in ((fast.marks, slow.marks), (fast.key_marks, slow.key_marks)):
                assert marks_fast.keys() == marks_slow.keys()
                for path, (line, column) in marks_fast.items():
                    if value_at(fast.data, path) is None:
                        continue
                    assert marks_slow[path][0] == line and abs(marks_slow[path][1] - column) <= 1, (case, path)
        else:
            counts["both refuse" if isinstance(fast, list) and isinstance(slow, list) else "one refuses"] += 1
            for errors in (fast, slow):
                if isinstance(errors, list):
                    assert errors and all(line is not None and column is not None and message
                                          for line, column, message, _ in errors), (case, errors)
    assert counts["both accept"] >= 100 and counts["both refuse"] >= 100, counts
    assert counts["one refuses"] <= MUTANTS // 50, counts  # seen: about 1 in 130
