"""Paths on the command line that no command can use: one line and exit 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from archspec.cli import main
from conftest import ROOT, SPECS

TOO_LONG = "a" * 300  # over the 255 bytes a file name may have


@pytest.mark.parametrize("arguments", [
    ["export", str(SPECS / "lenet.yaml"), "-o", "{long}.svg"],
    ["schema", "-o", "{long}.json"],
    ["sample", str(ROOT / "spaces" / "regnet_x.yaml"), "-n", "1", "-o", "{long}"],
    ["eval", str(SPECS / "lenet.yaml"), "--checkpoint", "{long}.pt"],
], ids=["export", "schema", "sample", "eval"])
def test_a_file_name_too_long_is_a_usage_error(arguments: list[str], tmp_path: Path, monkeypatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Python's path probes (`is_dir()`, `exists()`) raise 'File name too long': a traceback, exit 1."""
    monkeypatch.chdir(tmp_path)
    assert main([argument.format(long=TOO_LONG) for argument in arguments]) == 2
    said = capsys.readouterr().err
    assert f"cannot use {TOO_LONG}" in said and "File name too long" in said and "Traceback" not in said
    assert list(tmp_path.iterdir()) == []
