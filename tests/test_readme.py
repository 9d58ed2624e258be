"""The README tells the truth: its gallery is the one the command generates from specs/, its quick
start installs and tests the way CI does, and the commands it shows exist."""

from __future__ import annotations

import re

from archspec.cli import make_parser
from archspec.commands.gallery import END, START, render_gallery
from conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_gallery_is_current() -> None:
    shown = README[README.index(START) + len(START):README.index(END)].strip()
    assert shown == render_gallery(ROOT / "specs", ROOT).strip(), (
        "the README gallery is out of date: run `archspec gallery specs --write README.md`")


def test_quick_start_has_the_two_commands_and_ci_runs_the_test_one() -> None:
    quick_start = README[README.index("## Quick start"):README.index("## What it does")]
    commands = re.findall(r"```bash\n(.+?)\n```", quick_start)
    assert len(commands) == 2
    install_and_run, install_and_test = commands
    assert "pip install" in install_and_run and "archspec compile specs/" in install_and_run
    assert 'pip install torch==2.14.1 torchvision==0.29.1 -e ".[test]"' in install_and_test
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert 'pip install -q torch==2.14.1 torchvision==0.29.1 -e ".[test]"' in ci
    assert "python -m pytest" in install_and_test and "python -m pytest" in ci


def test_every_command_the_readme_shows_exists() -> None:
    shown = set(re.findall(r"^(?:\$ )?archspec ([a-z]+)", README, flags=re.MULTILINE))
    _, commands = make_parser()
    assert shown and shown <= set(commands), f"README shows unknown commands: {shown - set(commands)}"
