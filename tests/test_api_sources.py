"""`archspec.load`'s source: a path (str or Path) or YAML text, told apart without surprises."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import archspec
from conftest import SPECS


def test_a_path_with_a_colon_is_read_as_a_file(tmp_path: Path) -> None:
    """`runs/10:30/lenet.yaml` was taken for YAML text (it holds a `:`): 'expected a mapping of keys to
    values, found "runs/10:30/lenet.yaml"'. The command line, which passes a Path, read it."""
    folder = tmp_path / "10:30"
    folder.mkdir()
    shutil.copy(SPECS / "lenet.yaml", folder / "le:net.yaml")
    assert archspec.load(str(folder / "le:net.yaml")).name == "lenet"
    assert archspec.check(str(folder / "le:net.yaml")).params == archspec.check(SPECS / "lenet.yaml").params


def test_yaml_text_on_one_line_is_still_yaml_text() -> None:
    """One line with a `:` that names no file is YAML, one too long to be a file's name included (asking
    the file system about it must not raise 'File name too long')."""
    assert archspec.load("{name: x, input: {channels: 1, size: 4}}").name == "x"
    with pytest.raises(archspec.SpecError) as raised:
        archspec.load("{name: x, input: {channels: 1, size: 4}, description: " + "a" * 5000 + "}")
    assert [error.path for error in raised.value.errors] == [("description",)]


def test_a_string_over_its_length_says_how_long_it_may_be() -> None:
    """Pydantic's "String should have at most ..." read "expected have at most 2000 characters"."""
    with pytest.raises(archspec.SpecError) as raised:
        archspec.load("name: x\ninput: {channels: 1, size: 4}\ndescription: " + "a" * 2001 + "\n")
    (error,) = raised.value.errors
    assert error.message.startswith("expected at most 2000 characters, found ")
