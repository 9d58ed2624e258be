"""`archspec completion bash|zsh|fish`: each script is generated from the parser, names every
subcommand and option, and is valid for its shell (checked with the shell itself where installed); and
the progress line of long work outside training (archspec/progress.py)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

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


def needs(shell: str) -> None:
    """bash is always here; zsh and fish where installed. .ci/run installs them and sets
    ARCHSPEC_REQUIRE_SHELLS=1, so that CI runs every shell's tests instead of skipping them."""
    if shutil.which(shell) is None:
        assert shell != "bash" and not os.environ.get("ARCHSPEC_REQUIRE_SHELLS"), f"{shell} is not installed"
        pytest.skip(f"{shell} is not installed here (CI installs it)")


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_script_parses_in_its_shell(shell, capsys, tmp_path):
    needs(shell)
    script = tmp_path / f"archspec.{shell}"
    script.write_text(completion(shell, capsys))
    result = subprocess.run([shell, "-n", str(script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


# What a user types and the completions the shell offers (bash's, zsh's and fish's own engines).
CASES = [(("tr",), ["train"]),
         (("train", "spec.yaml", "--val"), ["--val-fraction"]),
         (("train", "spec.yaml", "--optimizer", ""), ["adam", "sgd"]),
         (("completion", ""), ["bash", "fish", "zsh"]),
         (("check", "--js"), ["--json"])]


def fish_completions(script: Path, words: tuple[str, ...]) -> list[str]:
    line = " ".join(["archspec", *words])
    program = f"source {shlex.quote(str(script))}; complete -C {shlex.quote(line)}"
    result = subprocess.run(["fish", "--no-config", "-c", program], capture_output=True, text=True,
                            check=True, timeout=60)
    return sorted(row.split("\t")[0] for row in result.stdout.splitlines())


def zsh_completions(script_folder: Path, cases: list[tuple[str, ...]], out: Path) -> list[list[str]]:
    """Types each line into an interactive zsh (on a pseudo-terminal, zsh/zpty) with `menu_complete`,
    presses Tab again and again and records the command line after each press: the completions in
    the order zsh cycles through them, until the first comes again (or, where there was one, the
    next word's). Each step waits for zsh's prompt: keys typed before it may be dropped."""
    typed = []
    for number, words in enumerate(cases):
        line = " ".join(["archspec", *words])
        presses = "\\t\\C-Y" * 5  # Tab, then record the line (^Y), five times
        typed.append(f"print -r -- CASE >> {out}; zpty -w -n z $'{line}{presses}\\C-U'; "
                     f"zpty -w z 'print DONE$(( {number} * 7 + 1000 ))'; "
                     f"zpty -r -m z junk '*DONE{number * 7 + 1000}*'; zpty -r -m z junk '*<ZP>*'")
    setup = (f"fpath=({script_folder} $fpath); autoload -Uz compinit; compinit -u -D; setopt menu_complete; "
             f"record() {{ print -r -- \"$BUFFER\" >> {out} }}; zle -N record; bindkey '^Y' record; "
             "PS1='<Z''P>'; print READY$(( 6 * 7 ))")
    driver = "\n".join(["zmodload zsh/zpty", "zpty z 'zsh -f -i'", f"zpty -w z {shlex.quote(setup)}",
                         "zpty -r -m z junk '*READY42*'", "zpty -r -m z junk '*<ZP>*'", *typed])
    subprocess.run(["zsh", "-f", "-c", driver], check=True, timeout=60)
    results = [block.splitlines() for block in out.read_text().split("CASE\n")[1:]]
    offered = []
    for (words, lines) in zip(cases, results):
        typed_line = " ".join(["archspec", *words[:-1]])
        seen = []
        for line in lines:
            word = line[len(typed_line):].strip()
            if word in seen or " " in word:  # all offered, or the one offered taken and the next word begun
                break
            seen.append(word)
        offered.append(sorted(seen))
    return offered


def test_fish_completes_subcommands_options_and_choices(capsys, tmp_path):
    needs("fish")
    script = tmp_path / "archspec.fish"
    script.write_text(completion("fish", capsys))
    for words, expected in CASES:
        assert fish_completions(script, words) == expected, words


def test_fish_shows_the_help_texts_as_written(capsys, tmp_path):
    """Quotes, colons and brackets of a help text reach the user (escaped in the script, not dropped)."""
    needs("fish")
    script = tmp_path / "archspec.fish"
    script.write_text(completion("fish", capsys))
    line = "archspec check --inp"
    program = f"source {shlex.quote(str(script))}; complete -C {shlex.quote(line)}"
    result = subprocess.run(["fish", "--no-config", "-c", program], capture_output=True, text=True,
                            check=True, timeout=60)
    parser_help = next(option.help for command in describe(make_parser()[0]) if command.name == "check"
                       for option in command.options if "--input" in option.names)
    assert "'" in parser_help and ":" in parser_help  # what the test is about: "(default: the spec's input)"
    assert result.stdout.splitlines() == [f"--input\t{parser_help}"]


def test_zsh_completes_subcommands_options_and_choices(capsys, tmp_path):
    needs("zsh")
    (tmp_path / "functions").mkdir()
    (tmp_path / "functions" / "_archspec").write_text(completion("zsh", capsys))
    offered = zsh_completions(tmp_path / "functions", [words for words, _ in CASES], tmp_path / "lines")
    assert offered == [expected for _, expected in CASES]


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
