"""`archspec check` starts fast (issue 16; benchmarks/startup.py times it): it imports only what the
check runs, and Pydantic builds the validators of only the kinds a spec uses.

Like tests/test_no_torch_import.py, each case runs a fresh process and reads what it had imported
when it exited: the ground truth, whatever imports what.
"""

from __future__ import annotations

import argparse
import importlib
import json

import pytest
from test_no_torch_import import RUN_CLI, imported_modules

from archspec.cli import COMMAND_MODULES, command_name, make_parser

# What `archspec check` never runs: the other commands, training, export, the test strategies, the
# resolve pass and scaling (only for specs with vars, scales, ${...} or overrides), YAML block kinds
# (resnet152 uses none).
NOT_ON_THE_CHECK_PATH = ("archspec.train", "archspec.export", "archspec.testing", "hypothesis",
                         "archspec.overrides", "archspec.scale", "archspec.blocks.defined", "archspec.library",
                         "archspec.build", "archspec.modules", "archspec.progress", "matplotlib", "numpy",
                         *(name for name in COMMAND_MODULES if name != "archspec.commands.check"))

# Printed at exit: which layer and block kinds have a validator (Pydantic's `__pydantic_complete__`).
BUILT_KINDS = ("import atexit, sys\n"
               "def _built():\n"
               "    from archspec.blocks import BLOCKS\n"
               "    from archspec.layers import LAYERS\n"
               "    print('BUILT ' + ' '.join(sorted(name for registry in (LAYERS, BLOCKS)\n"
               "          for name, model in registry.items() if model.__pydantic_complete__)), file=sys.stderr)\n"
               "atexit.register(_built)\n")


def _loaded(modules: set[str], prefix: str) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for name in modules)


def test_check_imports_only_what_it_runs() -> None:
    result, modules = imported_modules(RUN_CLI, "check", "specs/resnet152.yaml", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["params"] == 60_192_808
    assert {"archspec.check", "archspec.spec", "archspec.commands.check"} <= modules  # the detector sees
    assert [prefix for prefix in NOT_ON_THE_CHECK_PATH if _loaded(modules, prefix)] == []


def test_a_spec_with_vars_still_gets_the_resolve_pass(tmp_path) -> None:
    spec = tmp_path / "vars.yaml"
    spec.write_text("name: v\nvars: {w: 8}\ninput: {channels: 3, size: 8}\nstem:\n"
                    "  - {layer: conv, width: '${w * 2}'}\n", encoding="utf-8")
    result, modules = imported_modules(RUN_CLI, "check", str(spec), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["output_shape"] == [16, 6, 6]
    assert "archspec.overrides" in modules


def test_only_the_kinds_a_spec_uses_are_built() -> None:
    result, _ = imported_modules(BUILT_KINDS + RUN_CLI, "check", "specs/resnet152.yaml")
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("BUILT ")]
    # resnet152's layers and the layers its bottleneck blocks derive; no other kind.
    assert set(line.split()[1:]) == {"bottleneck", "conv", "batchnorm", "relu", "maxpool", "global_avgpool",
                                     "flatten", "linear"}


@pytest.mark.parametrize("module_name", COMMAND_MODULES)
def test_a_command_is_named_as_its_module(module_name: str) -> None:
    """The CLI parses a command's arguments without importing the other commands' modules: it knows
    their names from the module names."""
    assert command_name(module_name) == importlib.import_module(module_name).NAME


@pytest.mark.parametrize("module_name", COMMAND_MODULES)
def test_one_command_parser_reads_as_the_whole_one(module_name: str) -> None:
    name = command_name(module_name)
    whole, _ = make_parser()
    alone, commands = make_parser(only=name)
    assert list(commands) == [name]
    assert alone.format_usage() == whole.format_usage()  # every command still named, in order
    assert _subparser(alone, name).format_help() == _subparser(whole, name).format_help()


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    return next(action for action in parser._actions if action.dest == "command").choices[name]
