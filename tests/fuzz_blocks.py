"""Hostile block definitions for the fuzz campaign (tests/fuzz_campaign.py): expressions that try to
run code or to overflow, deep and cyclic nesting, huge results, many nodes, and malformed
definitions, each put into a spec that uses it. `PWNED` must never exist: an expression that ran
code would create it."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from typing import Any

from test_fuzz import paths

PWNED = "/tmp/archspec-fuzz-pwned"
HOSTILE_EXPRESSIONS: list[Any] = [
    f"${{__import__('os').system('touch {PWNED}')}}", f"${{open('{PWNED}', 'w')}}", "${eval('1')}",
    "${exec('x = 1')}", "${().__class__.__bases__[0].__subclasses__()}", "${lambda: 1}", "${in.real}",
    "${width[0]}", "${[x for x in range(10**9)]}", "${9**9**9}", "${2 ** 3}", "${99999999999 * 99999999999 * 9999}",
    "${1e308 * 10}", "${1e-300}", "${1/0}", "${in // 0}", "${in % 0}", "${width // (stride - stride)}",
    "${" + "(" * 500 + "1" + ")" * 500 + "}", "${" + "1+" * 300 + "1}", "${" + "-" * 100 + "1}", "${max()}",
    "${min(1)}", "${round()}", "${divisible(8, 0)}", "${divisible(-8, 8)}", "${divisible(1e300, 3)}",
    "${round(1e300)}", "${max(in, 1e300)}", "${nosuch}", "${'a' * 10}", '${"x"}', "${}", "${", "${width",
    "${{width}}", "${width}${width}", "a${width}b", "${width} ", "${1_000}", "${0x10}", "${-in}", "${in - in}",
    "${0.5}", "${true}", "${True}", "${None}", "${in < width < 3}", "${not in}", "${in and width}",
    "${1 if in else 2}", "${in;width}", "${\x00}", "${\u00e9}", "${\u1d62n}", "${in\n+1}", "${width * 1000000}",
    "${in * 1099511627776}", "${1099511627776}", "${-1}", "${0}", "${stride * 64}", "${in > 1}",
]
NASTY_NAMES = ["input", "forward", "__class__", "_modules", "training", "a.b", "a" * 64, "a" * 65, "0", "",
               "basic", "squeeze_excite", "${width}", "conv1", "n0"]
MALFORMED: list[Any] = [
    {"nodes": []}, {"nodes": {}}, {"nodes": None}, {"nodes": [{}]}, {"nodes": [[]]}, {"fields": [1], "nodes": [{}]},
    {"nodes": [{"layer": "relu", "op": "add"}]}, {"nodes": [{"op": "add", "from": []}]},
    {"nodes": [{"op": "add", "from": ["input"]}]}, {"nodes": [{"op": "concat", "from": ["input", "input"]}]},
    {"nodes": [{"op": "add", "from": ["input", "input"]}]}, {"nodes": [{"op": "mul", "from": ["input"] * 3}]},
    {"nodes": [{"op": "slice", "start": 5, "stop": 2}]}, {"nodes": [{"op": "slice", "stop": 0}]},
    {"nodes": [{"op": "slice", "start": -1, "stop": 1}]}, {"nodes": [{"op": "slice", "stop": "${in + 1}"}]},
    {"nodes": [{"op": "slice", "start": 0.5, "stop": 1}]}, {"nodes": [{"op": "concat", "from": "input"}]},
    {"nodes": [{"layer": "relu", "from": [{"a": 1}]}]}, {"nodes": [{"layer": "relu", "when": "${1/0}"}]},
    {"nodes": [{"layer": "relu", "when": "yes"}]}, {"nodes": [{"layer": "relu", "when": False}]},
    {"nodes": [{"layer": "relu", "else": "nothing", "when": False}]},
    {"nodes": [{"layer": "relu", "when": "${in}"}, {"layer": "relu", "when": False}]},
    {"nodes": [{"shortcut": "D", "from": "input"}, {"op": "add", "from": ["input", "downsample"]}]},
    {"nodes": [{"shortcut": "stage", "width": 0}]}, {"nodes": [{"shortcut": "A", "width": "${in - 1}"}]},
    {"nodes": [{"shortcut": "stage", "stride": "${in * 1000}"}]}, {"nodes": [{"shortcut": "none"}]},
    {"nodes": [{"block": "basic", "width": "${in}"}]}, {"nodes": [{"block": "basic", "repeats": 3}]},
    {"nodes": [{"block": "squeeze_excite", "reduction": 0}]}, {"nodes": [{"block": "squeeze_excite", "divisor": -1}]},
    {"nodes": [{"block": "inception", "c1": 1, "c2": [1, 1], "c3": [1, 1], "c4": 1}]},
    {"nodes": [{"layer": "relu"}], "output": "nothing"}, {"nodes": [{"layer": "relu"}], "output": "input"},
    {"fields": {"in": 3}, "nodes": [{"layer": "relu"}]}, {"fields": {"x": None}, "nodes": [{"layer": "relu"}]},
    {"fields": {"x": "${x}"}, "nodes": [{"layer": "conv", "width": "${x}", "kernel": 1}]},
    {"fields": {"a": "${b}", "b": "${a}"}, "nodes": [{"layer": "conv", "width": "${a}", "kernel": 1}]},
    {"fields": {"a": "${in * 2}"}, "nodes": [{"layer": "conv", "width": "${a}", "kernel": 1}]},
    {"nodes": [{"layer": "conv", "width": [1, 2], "kernel": 1}]}, {"nodes": [{"layer": "conv", "kernel": 1}]},
    {"nodes": [{"layer": "conv", "width": "${width}", "kernel": "${in * 1000}"}]},
    {"nodes": [{"layer": "conv", "width": "${width}", "kernel": 3, "groups": "${in + 1}"}]},
    {"nodes": [{"layer": "linear", "width": 3}]}, {"nodes": [{"layer": "flatten"}]},
    {"nodes": [{"layer": "global_avgpool"}, {"op": "add", "from": ["input", "global_avgpool"]}]},
    {"nodes": [{"name": "g", "layer": "global_avgpool"}, {"op": "mul", "from": ["g", "g"]}]},
    {"nodes": [{"layer": "dropout", "p": "${in}"}]}, {"nodes": [{"layer": "nosuch"}]},
    {"nodes": [{"layer": "relu", "name": "${width}"}]}, {"nodes": [{"layer": "relu", "inplace": "${true}"}]},
    {"nodes": [{"name": "x", "layer": "relu"}, {"name": "x", "layer": "relu"}]},
    {"description": "x" * 600, "nodes": [{"layer": "relu"}]}, {"nodes": [{"layer": "relu"}], "extra": 1},
]


def _kinds(document: dict) -> dict:
    blocks = document.get("blocks")
    if not isinstance(blocks, dict):
        blocks = document["blocks"] = {}
    return blocks


def _use(rng: random.Random, document: dict, kind: str, **fields: Any) -> None:
    """Makes a stage use `kind` (a new last stage, or one replacing a stage)."""
    stages = document.setdefault("stages", [])
    stage = {"block": kind, "width": rng.choice([1, 3, 8, 16]), **fields}
    if stages and isinstance(stages, list) and rng.random() < 0.5:
        stages[rng.randrange(len(stages))] = stage
    elif isinstance(stages, list):
        stages.append(stage)


def hostile_expression(rng: random.Random, document: dict) -> None:
    """A hostile expression in place of any value inside `blocks:` or in a stage."""
    targets = [path for path in paths(document) if path[0] in ("blocks", "stages")]
    if not targets:
        return
    path = rng.choice(targets)
    parent: Any = document
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = rng.choice(HOSTILE_EXPRESSIONS)


def deep_nesting(rng: random.Random, document: dict) -> None:
    depth = rng.choice([2, 8, 15, 16, 17, 40])
    blocks = _kinds(document)
    for level in range(depth):
        blocks[f"deep{level}"] = {"nodes": [{"block": f"deep{level + 1}"}, {"layer": "relu"}]}
    blocks[f"deep{depth}"] = {"nodes": [{"layer": "conv", "width": "${width}", "kernel": 3, "padding": 1}]}
    _use(rng, document, "deep0")


def cycle(rng: random.Random, document: dict) -> None:
    blocks = _kinds(document)
    kinds = list(blocks) or ["loop"]
    first, second = rng.choice(kinds), rng.choice(kinds)
    blocks[first] = {"nodes": [{"block": second}]}
    if second not in blocks:
        blocks[second] = {"nodes": [{"block": first}]}
    _use(rng, document, first)


def huge(rng: random.Random, document: dict) -> None:
    blocks = _kinds(document)
    width = rng.choice(["${width * 1000000}", "${in * 65536}", 1_000_000, "${width * width * width}"])
    blocks["huge"] = {"nodes": [{"layer": "conv", "width": width, "kernel": 3, "padding": 1}]}
    _use(rng, document, "huge", repeats=rng.choice([1, 30]))  # 1,000 copies build and run for minutes
    if rng.random() < 0.3:
        document["stages"][-1]["width"] = rng.choice([10**6, 10**9, 2**40])


def many_nodes(rng: random.Random, document: dict) -> None:
    count = rng.choice([100, 999, 1000, 1001, 5000])
    _kinds(document)["long"] = {"nodes": [{"layer": "relu", "name": f"r{i}"} for i in range(count)]}
    _use(rng, document, "long")


def malformed(rng: random.Random, document: dict) -> None:
    name = rng.choice(["fz", "fz", *NASTY_NAMES])
    _kinds(document)[name] = copy.deepcopy(rng.choice(MALFORMED))
    if rng.random() < 0.5:
        nodes = _kinds(document)[name].get("nodes")
        if isinstance(nodes, list) and nodes and isinstance(nodes[0], dict):
            nodes[0]["name"] = rng.choice(NASTY_NAMES)
    _use(rng, document, name)


BLOCK_MUTATIONS: list[Callable[[random.Random, dict], None]] = [
    hostile_expression, hostile_expression, hostile_expression, deep_nesting, cycle, huge, many_nodes,
    malformed, malformed, malformed]


def hostile_blocks(rng: random.Random, document: dict) -> dict:
    """`document` (a spec with or without `blocks:`) with one to three hostile block mutations."""
    document = copy.deepcopy(document)
    for _ in range(rng.choice([1, 1, 2, 3])):
        rng.choice(BLOCK_MUTATIONS)(rng, document)
    return document
