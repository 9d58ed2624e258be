"""`archspec completion bash|zsh|fish`: a shell completion script, generated from the CLI's parser.

Every subcommand, option and option choice comes from the argparse parser itself (so the script
never lags the CLI); an option whose value is a path (PATH, DIR, FILE) and the spec argument
complete file names. No dependency: the three scripts are small templates.

    archspec completion bash > ~/.local/share/bash-completion/completions/archspec
    archspec completion zsh > "${fpath[1]}/_archspec"
    archspec completion fish > ~/.config/fish/completions/archspec.fish
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass

from archspec.commands import EXIT_OK

NAME = "completion"
HELP = "print a shell completion script: archspec completion bash|zsh|fish"
SHELLS = ("bash", "zsh", "fish")
PATH_METAVARS = {"PATH", "DIR", "FILE", "OUT", "CHECKPOINT"}


@dataclass(frozen=True)
class Option:
    names: tuple[str, ...]  # e.g. ("--out",) or ("-o", "--output")
    help: str
    takes_value: bool
    choices: tuple[str, ...]
    is_path: bool


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    options: tuple[Option, ...]
    takes_files: bool  # a positional path (the spec)
    words: tuple[str, ...] = ()  # a positional's choices (completion's shell)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shell", choices=SHELLS, help="the shell to complete in")


def run(args: argparse.Namespace) -> int:
    from archspec.cli import make_parser

    parser, _ = make_parser()
    sys.stdout.write(script(args.shell, describe(parser)))
    return EXIT_OK


def describe(parser: argparse.ArgumentParser) -> tuple[Command, ...]:
    """The subcommands of `parser`, each with its options, read from argparse's actions."""
    subparsers = next(action for action in parser._actions
                      if isinstance(action, argparse._SubParsersAction))
    helps = {choice.dest: choice.help or "" for choice in subparsers._choices_actions}
    commands = []
    for name, subparser in subparsers.choices.items():
        options, takes_files, words = [], False, ()
        for action in subparser._actions:
            if not action.option_strings:
                takes_files = takes_files or action.choices is None
                words = words or tuple(map(str, action.choices or ()))
                continue
            metavar = str(action.metavar or "").upper()
            options.append(Option(tuple(action.option_strings), _plain(action.help or ""),
                                  action.nargs != 0, tuple(map(str, action.choices or ())),
                                  metavar in PATH_METAVARS))
        commands.append(Command(name, _plain(helps.get(name, "")), tuple(options), takes_files, words))
    return tuple(commands)


DESCRIPTION_LENGTH = 80  # a description longer than this is cut at a word, with "..."


def _plain(text: str) -> str:
    """Help text as a description: its first clause, on one line, without the backticks that mark
    code, cut at a word where it is long, without a parenthesis that the cut left open. Quotes,
    colons and brackets stay (each script escapes them for its shell: `_zsh_quoted`, `_fish_quoted`);
    a backslash or a character outside printable ASCII becomes a space."""
    text = text.replace("%%", "%").replace("`", "").split(";")[0]
    text = re.sub(r"[^\x20-\x5b\x5d-\x7e]", " ", text)  # printable ASCII but the backslash
    text = re.sub(" +", " ", text).strip()
    cut = len(text) > DESCRIPTION_LENGTH
    if cut:
        text = text[:DESCRIPTION_LENGTH - 3].rsplit(" ", 1)[0].rstrip(" ,.")
    if text.count("(") > text.count(")"):
        text, cut = text[:text.rfind("(")].rstrip(" ,."), True
    return f"{text}..." if cut else text


def script(shell: str, commands: tuple[Command, ...]) -> str:
    return {"bash": _bash, "zsh": _zsh, "fish": _fish}[shell](commands)


def _bash(commands: tuple[Command, ...]) -> str:
    names = " ".join(command.name for command in commands)
    cases = []
    for command in commands:
        value_cases = []
        for option in command.options:
            if not option.takes_value:
                continue
            pattern = "|".join(option.names)
            if option.choices:
                reply = f'COMPREPLY=($(compgen -W "{" ".join(option.choices)}" -- "$cur"))'
            elif option.is_path:
                reply = 'COMPREPLY=($(compgen -f -- "$cur"))'
            else:
                reply = "COMPREPLY=()"
            value_cases.append(f"                {pattern}) {reply}; return ;;")
        words = " ".join(name for option in command.options for name in option.names)
        rest = ('COMPREPLY=($(compgen -f -- "$cur"))' if command.takes_files
                else f'COMPREPLY=($(compgen -W "{" ".join(command.words)}" -- "$cur"))' if command.words
                else "COMPREPLY=()")
        cases.append("\n".join([
            f"        {command.name})",
            '            case "$prev" in',
            *value_cases,
            "            esac",
            (f'            if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W "{words}" -- "$cur")); '
            f"else {rest}; fi"),
            "            ;;"]))
    body = "\n".join(cases)
    return f"""# bash completion for archspec (archspec completion bash)
_archspec() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    if [[ $COMP_CWORD -eq 1 ]]; then
        COMPREPLY=($(compgen -W "{names} --help --version" -- "$cur"))
        return
    fi
    case "${{COMP_WORDS[1]}}" in
{body}
    esac
}}
complete -o filenames -o bashdefault -F _archspec archspec
"""


def _zsh(commands: tuple[Command, ...]) -> str:
    described = "\n".join(f"        '{command.name}:{_zsh_quoted(command.help)}'" for command in commands)
    cases = []
    for command in commands:
        specs = []
        for option in command.options:
            action = (f":value:({' '.join(option.choices)})" if option.choices
                      else ":path:_files" if option.is_path else ":value:" if option.takes_value else "")
            names = option.names
            exclusive = f"({' '.join(names)})" if len(names) > 1 else ""
            for name in names:
                specs.append(f"'{exclusive}{name}[{_zsh_quoted(option.help, bracketed=True)}]{action}'")
        if command.takes_files:
            specs.append("'*:file:_files'")
        if command.words:
            specs.append(f"'1:value:({' '.join(command.words)})'")
        cases.append(f"        {command.name}) _arguments \\\n            " + " \\\n            ".join(specs)
                     + " ;;")
    body = "\n".join(cases)
    return f"""#compdef archspec
# zsh completion for archspec (archspec completion zsh)
_archspec() {{
    local -a commands
    commands=(
{described}
    )
    if (( CURRENT == 2 )); then
        _describe 'command' commands
        return
    fi
    local command=$words[2]
    shift words
    (( CURRENT-- ))
    case $command in
{body}
    esac
}}
if [[ $funcstack[1] == _archspec ]]; then
    _archspec "$@"
else
    compdef _archspec archspec
fi
"""


def _zsh_quoted(text: str, bracketed: bool = False) -> str:
    """`text` inside zsh's single quotes; `bracketed`: an `_arguments` description, inside `[...]`,
    where a bracket of its own ends it unless escaped."""
    if bracketed:
        text = text.replace("[", "\\[").replace("]", "\\]")
    return text.replace("'", "'\\''")


def _fish_quoted(text: str) -> str:
    """`text` inside fish's single quotes (which read `\\'` as a quote)."""
    return text.replace("'", "\\'")


def _fish(commands: tuple[Command, ...]) -> str:
    names = " ".join(command.name for command in commands)
    lines = ["# fish completion for archspec (archspec completion fish)", "complete -c archspec -f",
             (f"complete -c archspec -n 'not __fish_seen_subcommand_from {names}' -l version "
             "-d 'print the version'")]
    for command in commands:
        lines.append(f"complete -c archspec -n 'not __fish_seen_subcommand_from {names}' "
                     f"-a {command.name} -d '{_fish_quoted(command.help)}'")
        seen = f"-n '__fish_seen_subcommand_from {command.name}'"
        if command.takes_files:
            lines.append(f"complete -c archspec {seen} -F")
        if command.words:
            lines.append(f"complete -c archspec {seen} -a '{' '.join(command.words)}'")
        for option in command.options:
            flags = " ".join(f"-l {name[2:]}" if name.startswith("--") else f"-s {name[1:]}"
                             for name in option.names)
            value = (f" -x -a '{' '.join(option.choices)}'" if option.choices
                     else " -r -F" if option.is_path else " -x" if option.takes_value else "")
            lines.append(f"complete -c archspec {seen} {flags}{value} -d '{_fish_quoted(option.help)}'")
    return "\n".join(lines) + "\n"
