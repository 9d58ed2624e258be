"""Module names: a name that would make PyTorch build another network than the report's (two siblings
under one name) or fail (`forward`, `training`, ...) is refused by the check, where it is written,
naming the other place, with a free name to use instead."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from torch import nn

import archspec
from archspec import modules
from archspec.build import build_module
from archspec.errors import Diagnostic
from archspec.layers import LAYERS
from archspec.names import NETWORK_ATTRIBUTES, SEQUENTIAL_ATTRIBUTES, reserved_because
from archspec.verify import verify_against_forward
from conftest import ROOT

HEADER = "name: t\ninput: {channels: 3, size: 8}\n"
HEAD = "head:\n  - {layer: global_avgpool}\n  - {layer: flatten}\n  - {layer: linear, width: 4}\n"


def _python_attribute(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


def test_reserved_names_cover_every_attribute_of_the_containers_torch_builds():
    """The list in archspec.names is static (the check never imports torch): it must cover what the
    installed torch's containers have, and archspec's network's own attributes exactly."""
    sequential = {name for name in dir(nn.Sequential()) if not _python_attribute(name)}
    network = {name for name in dir(modules.Network("t", [])) if not _python_attribute(name)}
    assert sorted(sequential - SEQUENTIAL_ATTRIBUTES) == [], "add these to archspec.names.SEQUENTIAL_ATTRIBUTES"
    assert network - sequential == NETWORK_ATTRIBUTES
    for name in dir(modules.Network("t", [])):
        assert reserved_because(name, top_level=True), name
    for name in dir(nn.Sequential()):
        assert reserved_because(name, top_level=False), name
    assert reserved_because("spec_name", top_level=False) is None  # a list stage is a plain Sequential


def test_no_default_name_is_reserved():
    defaults = [kind.default_name + suffix for kind in LAYERS.models() for suffix in ("", "1", "2")]
    defaults += [f"layer{number}" for number in range(1, 20)]
    assert [name for name in defaults if reserved_because(name, top_level=True)] == []


def _check(body: str) -> list[Diagnostic]:
    return list(archspec.check(archspec.load(HEADER + body)).errors)


def _stages(*lines: str) -> str:
    return "stem:\n  - {layer: conv, width: 8, padding: 1}\nstages:\n" + "".join(f"  - {line}\n" for line in lines)


# (spec after HEADER, [(spec path, line, words of the message, the free name the hint offers)])
CLASHES = [
    ("stages:\n  - blocks:\n      - {layer: conv, width: 8, name: a}\n      - {layer: conv, width: 16, name: a}\n"
     + HEAD, [("stages[0].blocks[1].name", 6, "module name `a` is also the name of stages[0].blocks[0]", "a_2")]),
    (_stages("{block: basic, width: 8}", "{block: basic, width: 8, name: layer1}") + HEAD,
     [("stages[1].name", 7, "`layer1` is also the name of stages[0] (its default name)", "layer1_2")]),
    (_stages("{block: basic, width: 8, name: layer2}", "{block: basic, width: 8, name: layer2}") + HEAD,
     [("stages[1].name", 7, "`layer2` is also the name of stages[0]", "layer2_2")]),
    (_stages("{block: basic, width: 8, name: fc}") + HEAD,
     [("stages[0].name", 6, "`fc` is also the name of head[2] (its default name)", "fc_2")]),
    (_stages("{block: basic, width: 8, name: conv1}") + HEAD,
     [("stages[0].name", 6, "`conv1` is also the name of stem[0] (its default name)", "conv1_2")]),
    # the free name skips one that is taken
    (_stages("{block: basic, width: 8, name: fc}", "{block: basic, width: 8, name: fc_2}") + HEAD,
     [("stages[0].name", 6, "`fc` is also the name of head[2]", "fc_3")]),
    # a name used three times: both repeats reported, each offered its own free name
    ("stem:\n  - {layer: conv, width: 4, name: x}\n  - {layer: relu, name: x}\n  - {layer: relu, name: x}\n",
     [("stem[1].name", 5, "`x` is also the name of stem[0]", "x_2"),
      ("stem[2].name", 6, "`x` is also the name of stem[0]", "x_3")]),
    # a name at the length limit: the free name is shortened to stay a name
    (f"stem:\n  - {{layer: conv, width: 4, name: {'n' * 64}}}\n  - {{layer: relu, name: {'n' * 64}}}\n",
     [("stem[1].name", 5, "is also the name of stem[0]", "n" * 62 + "_2")]),
]

RESERVED = [
    ("stem:\n  - {layer: conv, width: 8, name: forward}\n", "stem[0].name", "forward", "nn.Sequential"),
    (_stages("{block: basic, width: 8, name: training}"), "stages[0].name", "training", "nn.Sequential"),
    ("stages:\n  - blocks:\n      - {layer: relu, name: append}\n", "stages[0].blocks[0].name", "append",
     "nn.Sequential"),
    ("head:\n  - {layer: flatten, name: _modules}\n", "head[0].name", "_modules", "nn.Sequential"),
    ("head:\n  - {layer: flatten, name: dump_patches}\n", "head[0].name", "dump_patches", "nn.Sequential"),
    ("head:\n  - {layer: flatten, name: T_destination}\n", "head[0].name", "T_destination", "nn.Sequential"),
    ("head:\n  - {layer: flatten, name: add_module}\n", "head[0].name", "add_module", "nn.Sequential"),
    ("head:\n  - {layer: flatten, name: spec_name}\n", "head[0].name", "spec_name", "archspec's compiled network"),
    ("head:\n  - {layer: flatten, name: __init__}\n", "head[0].name", "__init__", "Python reserves"),
]


def _offered(error: Diagnostic) -> str:
    found = re.search(r"`name: (\w+)`", error.hint or "")
    assert found, error.hint
    return found.group(1)


def _renamed(body: str, errors: list[Diagnostic]) -> str:
    """The spec with every reported `name:` replaced by the name its hint offers."""
    lines = (HEADER + body).splitlines()
    for error in errors:
        assert error.line is not None and error.column is not None and error.path[-1] == "name"
        line, start = lines[error.line - 1], error.column - 1
        old = re.match(r"\w+", line[start:])
        assert old
        lines[error.line - 1] = line[:start] + _offered(error) + line[start + old.end():]
    return "\n".join(lines) + "\n"


def _builds_as_reported(text: str) -> None:
    report = archspec.check(archspec.load(text))
    assert report.ok, [e.render() for e in report.errors]
    network = build_module(report)
    assert verify_against_forward(report, network) == []
    assert report.params == sum(p.numel() for p in network.parameters())


@pytest.mark.parametrize("body, expected", CLASHES, ids=[c[1][0][0] + ":" + c[1][0][3] for c in CLASHES])
def test_two_siblings_under_one_name_are_refused_where_the_name_is_written(body: str, expected: list):
    errors = _check(body)
    assert [(e.path_text, e.line, _offered(e)) for e in errors] == [(p, line, free) for p, line, _, free in expected]
    for error, (_, _, words, _) in zip(errors, expected):
        assert words in error.message
        assert error.source_line is not None and error.column is not None
        assert error.source_line[error.column - 1:].startswith(error.message.split("`")[1])  # caret on the name
    _builds_as_reported(_renamed(body, errors))  # the free names are free: the spec then builds exactly


@pytest.mark.parametrize("body, path, name, why", RESERVED, ids=[r[2] for r in RESERVED])
def test_attribute_names_are_refused(body: str, path: str, name: str, why: str):
    errors = _check(body)
    assert [e.path_text for e in errors] == [path]
    assert f"module name `{name}` is reserved" in errors[0].message and why in errors[0].message
    _builds_as_reported(_renamed(body, errors))


def test_spec_name_may_name_a_layer_inside_a_list_stage():
    _builds_as_reported(HEADER + "stages:\n  - blocks:\n      - {layer: relu, name: spec_name}\n")


def test_a_stem_layer_may_take_a_stage_like_name_no_stage_has():
    """Only real clashes are refused: `layer9` beside two stages is free."""
    _builds_as_reported(HEADER + _stages("{block: basic, width: 8}", "{block: basic, width: 8}")
                        .replace("padding: 1}", "padding: 1, name: layer9}") + HEAD)


def test_every_clash_is_reported_at_once():
    body = (_stages("{block: basic, width: 8, name: forward}", "{block: basic, width: 8, name: conv1}")
            + "head:\n  - {layer: global_avgpool, name: conv1}\n  - {layer: flatten}\n")
    assert [e.path_text for e in _check(body)] == ["stages[0].name", "stages[1].name", "head[0].name"]


def test_the_cli_refuses_a_clash_with_exit_2_and_no_traceback(tmp_path: Path):
    spec = tmp_path / "clash.yaml"
    spec.write_text(HEADER + _stages("{block: basic, width: 8}", "{block: basic, width: 8, name: layer1}") + HEAD,
                    encoding="utf-8")
    for command in ("check", "compile"):
        options = ["--check-shapes"] if command == "compile" else []
        done = subprocess.run([sys.executable, "-m", "archspec", command, str(spec), *options],
                              capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        assert "Traceback" not in done.stdout + done.stderr
        assert f"{spec}:7:" in done.stdout + done.stderr


def test_a_name_on_a_block_inside_a_list_stage_names_it():
    """A list stage's one-copy block takes its `name:` (it used to be silently ignored: the table and
    the module said `layer1.0`); an entry of several copies is refused (tests/test_copy_names.py)."""
    body = HEADER + "stages:\n  - blocks:\n      - {block: basic, width: 4, name: first}\n" + HEAD
    report = archspec.check(body)
    assert report.ok and [row.name for row in report.rows(depth=2)][1] == "layer1.first"
