"""`archspec completion bash|zsh|fish`: each script is generated from the parser, names every
subcommand and option, and is valid for its shell (checked with the shell itself where installed); and
the progress line of long work outside training (archspec/progress.py)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from archspec.cli import main, make_parser
from archspec.commands.completion import describe


def completion(shell: str, capsys) -> str:
    assert main(["completion", shell]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_every_subcommand_and_option_is_in_the_script(shell, capsys):
    script = completion(shell, capsys)
    commands = describe(make_parser()[0])
    assert {command.name for command in commands} >= {"check", "compile", "train", "eval", "export",
                                                      "completion"}
    for command in commands:
        assert command.name in script
        for option in command.options:
            for name in option.names:
                written = {"fish": f"-l {name[2:]}" if name.startswith("--") else f"-s {name[1:]}"}
                assert written.get(shell, name) in script, (command.name, name)
    assert "adam sgd" in script and "bash zsh fish" in script  # choices: train --optimizer, the shell


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_script_parses_in_its_shell(shell, capsys, tmp_path):
    script = tmp_path / f"archspec.{shell}"
    script.write_text(completion(shell, capsys))
    if shutil.which(shell) is None:  # only bash is sure to be here; the others are checked where present
        assert shell != "bash"
        return
    result = subprocess.run([shell, "-n", str(script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_bash_completes_subcommands_options_and_choices(capsys, tmp_path):
    script = tmp_path / "archspec.bash"
    script.write_text(completion("bash", capsys))

    def complete(*words: str) -> list[str]:
        line = " ".join(["archspec", *words])
        program = (f'source "{script}"; COMP_WORDS=({line}); COMP_CWORD={len(words)}; _archspec; '
                   'printf "%s\\n" "${COMPREPLY[@]}"')
        result = subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True)
        return result.stdout.split()

    assert complete("tr") == ["train"]
    assert "--val-fraction" in complete("train", "spec.yaml", "--val")
    assert complete("train", "spec.yaml", "--optimizer", "") == ["adam", "sgd"]
    assert complete("completion", "") == ["bash", "zsh", "fish"]  # a positional's choices
    assert complete("completion", "z") == ["zsh"]


def test_an_unknown_shell_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["completion", "tcsh"])
    assert exit_info.value.code == 2 and "invalid choice: 'tcsh'" in capsys.readouterr().err


def test_long_work_shows_what_it_does_on_a_terminal_only():
    import io

    from archspec.progress import activity

    terminal = io.StringIO()
    with activity("export", "writing net.onnx (onnx)", stream=terminal, enabled=True):
        pass
    assert terminal.getvalue().startswith("\rarchspec export: writing net.onnx (onnx)... 0s\x1b[K")
    assert terminal.getvalue().endswith("\r\x1b[K")
    log = io.StringIO()  # not a terminal: nothing
    with activity("compile", "checking shapes", stream=log):
        pass
    assert log.getvalue() == ""


def test_compile_check_shapes_and_export_show_their_progress(monkeypatch, tmp_path, capsys):
    import io

    from conftest import SPECS

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr("archspec.progress.sys.stderr", terminal)
    assert main(["compile", str(SPECS / "lenet.yaml"), "--check-shapes"]) == 0
    assert "archspec compile: building lenet... " in terminal.getvalue()
    assert "archspec compile: checking every module's shape with a forward pass... " in terminal.getvalue()
    assert main(["export", str(SPECS / "lenet.yaml"), "-o", str(tmp_path / "lenet.py")]) == 0
    assert f"archspec export: writing {tmp_path / 'lenet.py'} (python)... " in terminal.getvalue()
    assert "shapes verified" in capsys.readouterr().out
