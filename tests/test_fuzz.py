"""Fuzzing load + check with thousands of mutations of the shipped specs: deleted keys, wrong types,
swapped values, duplicated items, unknown keys, and random byte edits of the text. Every outcome must
be a report or a clean `SpecError` with located diagnostics: never another exception, never a hang.
Pure load + check (no torch), seeded, so a failure reproduces: the message names seed and case.
"""

from __future__ import annotations

import copy
import json
import random
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import archspec
from archspec import SpecError
from archspec.cli import main
from archspec.loader import dump, load_document
from conftest import SPECS

SHIPPED = sorted(SPECS.glob("*.yaml"))
STRUCTURAL_CASES = 1_500
BYTE_CASES = 1_500
SECONDS_PER_CASE = 5  # a hang guard, far above the few milliseconds a case takes

WRONG_VALUES: list[Any] = [None, -1, 0, 1, 2, 3, 7, 10**12, -(10**30), 0.5, -2.5, 1e300, True, False, "", "x",
                           "3x3", "basic", "bottleneck", "identity", "B", "relu", "conv", "é" * 3, [], [0], [1, 2],
                           [3, 224, 224], [[1]], {}, {"layer": "relu"}, {"block": "basic"}, {"blocks": []},
                           "a" * 5000, "2024-01-01"]
SPECIAL_TEXT = [":", "-", "- ", "[", "]", "{", "}", ",", "&a ", "*a", "!!python/object:os.system ", "\t",
                "\n", "  ", "#", "'", '"', "%YAML 1.1\n", "---\n", "<<: ", "? ", "\x00", "\ufeff", "é",
                "\U0001f600", ".nan", "-.inf", "~", "1e9999"]


def paths(data: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Every path to a value in plain data, parents before children."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield (*prefix, key)
            yield from paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield (*prefix, index)
            yield from paths(value, (*prefix, index))


def parent_and_key(data: Any, path: tuple) -> tuple[Any, Any]:
    for part in path[:-1]:
        data = data[part]
    return data, path[-1]


def delete_key(rng: random.Random, data: Any, path: tuple) -> None:
    parent, key = parent_and_key(data, path)
    del parent[key]


def wrong_value(rng: random.Random, data: Any, path: tuple) -> None:
    parent, key = parent_and_key(data, path)
    parent[key] = copy.deepcopy(rng.choice(WRONG_VALUES))


def swap_values(rng: random.Random, data: Any, path: tuple) -> None:
    other = rng.choice(list(paths(data)))
    if other[:len(path)] == path or path[:len(other)] == other:
        return  # one contains the other
    parent, key = parent_and_key(data, path)
    other_parent, other_key = parent_and_key(data, other)
    parent[key], other_parent[other_key] = other_parent[other_key], parent[key]


def duplicate_item(rng: random.Random, data: Any, path: tuple) -> None:
    parent, key = parent_and_key(data, path)
    if isinstance(parent, list):
        parent.insert(key, copy.deepcopy(parent[key]))
    else:
        parent[key] = [parent[key], copy.deepcopy(parent[key])]


def unknown_key(rng: random.Random, data: Any, path: tuple) -> None:
    parent, key = parent_and_key(data, path)
    target = parent[key] if isinstance(parent[key], dict) else parent
    if isinstance(target, dict):
        target[rng.choice(["widht", "stide", "blocks", "layer", "block", "repeat", "extra"])] = rng.choice(WRONG_VALUES)


def other_number(rng: random.Random, data: Any, path: tuple) -> None:
    """A plausible but different number: reaches the shape check rather than validation."""
    parent, key = parent_and_key(data, path)
    if isinstance(parent[key], int) and not isinstance(parent[key], bool):
        parent[key] = rng.choice([1, 1, 2, 2, 3, 4, 5, 7, 9, 16, 64, 300, 4096])


MUTATIONS: list[Callable[[random.Random, Any, tuple], None]] = [
    delete_key, wrong_value, wrong_value, swap_values, duplicate_item, unknown_key, other_number, other_number]


class Hang(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise Hang


@pytest.fixture
def hang_guard() -> Iterator[Callable[[], None]]:
    previous = signal.signal(signal.SIGALRM, _alarm)

    def arm() -> None:
        signal.alarm(SECONDS_PER_CASE)
    yield arm
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def load_and_check(source: str | Path) -> str:
    """'ok', 'invalid' (a report with errors) or 'refused' (SpecError); anything else propagates."""
    try:
        report = archspec.check(archspec.load(source))
    except SpecError as error:
        assert error.errors and all(d.message for d in error.errors)
        assert all(d.line is not None and d.column is not None for d in error.errors), error
        return "refused"
    json.dumps(report.to_json() if len(report.resolved) < 40 else {"errors": [d.to_json() for d in report.errors]})
    assert all(d.line is not None for d in report.errors), report.errors
    return "ok" if report.ok else "invalid"


def test_structural_mutations_give_only_clean_errors(hang_guard: Callable[[], None]):
    rng = random.Random(20_240_501)
    documents = [load_document(path).data for path in SHIPPED]
    outcomes: dict[str, int] = {}
    for case in range(STRUCTURAL_CASES):
        data = copy.deepcopy(rng.choice(documents))
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            all_paths = list(paths(data))
            if all_paths:
                rng.choice(MUTATIONS)(rng, data, rng.choice(all_paths))
        hang_guard()
        try:
            outcome = load_and_check(dump(data))
        except Exception as error:
            raise AssertionError(f"case {case}: {type(error).__name__}: {error}\n{dump(data)[:2000]}") from error
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    # The mutations really reach every stage of the pipeline.
    assert min(outcomes.get(kind, 0) for kind in ("ok", "invalid", "refused")) >= 20, outcomes


def mutate_bytes(rng: random.Random, raw: bytes) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.choice([1, 1, 2, 4, 8])):
        where = rng.randrange(len(data) + 1)
        action = rng.randrange(4)
        if action == 0:
            data[where:where] = rng.choice(SPECIAL_TEXT).encode("utf-8")
        elif action == 1 and data:
            del data[where:where + rng.randrange(1, 40)]
        elif action == 2:
            data[where:where] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4)))
        else:
            data = data[:where]  # truncated
    return bytes(data)


def test_byte_mutations_give_only_clean_errors(tmp_path: Path, hang_guard: Callable[[], None]):
    rng = random.Random(19_700_101)
    sources = [path.read_bytes() for path in SHIPPED]
    target = tmp_path / "mutant.yaml"
    outcomes: dict[str, int] = {}
    for case in range(BYTE_CASES):
        raw = mutate_bytes(rng, rng.choice(sources))
        target.write_bytes(raw)
        hang_guard()
        try:
            outcome = load_and_check(target)
        except Exception as error:
            raise AssertionError(f"case {case}: {type(error).__name__}: {error}\n{raw[:2000]!r}") from error
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    assert outcomes.get("refused", 0) >= 100 and outcomes.get("ok", 0) >= 20, outcomes


def test_cli_on_mutants_exits_0_or_2_with_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    rng = random.Random(4)
    sources = [path.read_bytes() for path in SHIPPED]
    for case in range(60):
        path = tmp_path / f"mutant{case}.yaml"
        path.write_bytes(mutate_bytes(rng, rng.choice(sources)))
        code = main(["check", str(path), "--json"])
        out, err = capsys.readouterr()
        assert code in (0, 2) and "Traceback" not in out + err
        if out:
            assert json.loads(out)["ok"] is (code == 0)
