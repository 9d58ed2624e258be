"""`requires:` in a block definition: conditions every use of the kind must meet.

A field's default says what a block expects; `requires` says what it cannot take, so that a stage
asking for something the block cannot build gets an error at the stage, in the stage's terms, before
any node is made (`reduction: 0` is refused as "requires `reduction >= 1`", not as a division by
zero inside a library file):

    fields: {reduction: 16}
    requires: ["${reduction >= 1}", "${in % groups == 0}"]

Each entry is one `${...}` comparison over the block's fields, `width`, `stride`, `in` and `index`
(the expression language of definitions: archspec/expr.py, never `eval`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from archspec.errors import SpecPath, did_you_mean
from archspec.expr import ExprError, compiled, names, parse, split

MAX_REQUIREMENTS = 32


class Unmet(NamedTuple):
    index: int  # the entry of `requires`
    condition: str  # its expression, without `${}`
    message: str
    reads: tuple[str, ...]  # the names it reads, in the order written


def condition_of(text: str) -> str | None:
    """The expression of an entry that is one whole `${...}`, else None."""
    pieces = split(text.strip()) if "${" in text else []
    if len(pieces) != 2 or pieces[0].literal or pieces[1].literal or pieces[0].expression is None:
        return None
    return pieces[0].expression


def requirement_problems(requires: tuple[str, ...], known: list[str]) -> list[tuple[SpecPath, str, str | None]]:
    """Entries that are not one `${...}` that parses and reads only `known` names (the definition's
    fields and the names archspec gives)."""
    problems: list[tuple[SpecPath, str, str | None]] = []
    for index, text in enumerate(requires):
        try:
            condition = condition_of(text)
        except ExprError as error:
            problems.append((("requires", index), error.message, error.hint))
            continue
        if condition is None:
            problems.append((("requires", index), f"expected one `${{...}}` comparison, found {text!r}",
                             "write e.g. `\"${reduction >= 1}\"`"))
            continue
        try:
            read = names(parse(condition))
        except ExprError as error:
            problems.append((("requires", index), f"`${{{condition}}}`: {error.message}", error.hint))
            continue
        for name in sorted(read - set(known)):
            problems.append((("requires", index), f"`${{{condition}}}` reads `{name}`, which is not a field",
                             did_you_mean(name, known) or f"known names: {', '.join(known)}"))
    return problems


def unmet_requirements(kind: str, requires: tuple[str, ...], environment: Mapping[str, object]) -> list[Unmet]:
    """The entries of `requires` that are false (or fail) for one use's values."""
    unmet = []
    for index, text in enumerate(requires):
        condition = condition_of(text)
        assert condition is not None, "requirement_problems refused it when the definition was validated"
        try:
            holds = compiled(condition)(environment)  # equal to the tree evaluator's (tests/test_expr_compiled.py)
        except ExprError as error:
            unmet.append(Unmet(index, condition, f"`{kind}` requires `{condition}`, which fails: {error.message}",
                               _reads(condition)))
            continue
        if holds is not True:
            reads = _reads(condition)
            found = ", ".join(f"{name} is {environment.get(name)!r}" for name in reads)
            shown = "" if holds is False else f" (it is {holds!r}, not true or false)"
            unmet.append(Unmet(index, condition, f"`{kind}` requires `{condition}`{shown}, but {found}", reads))
    return unmet


def _reads(condition: str) -> tuple[str, ...]:
    """The names a condition reads, in the order written (for its message)."""
    return tuple(sorted(names(parse(condition)), key=condition.find))


# How a stage sets each name a requirement may read besides the block's own fields.
_WHAT_SETS = {"in": "the width of the layer or block before (`in`, the block's input channels)",
              "width": "`width:`", "stride": "`stride:`", "index": "`repeats:` (`index` is the copy's position)"}


def use_problems(kind: str, fields: Mapping[str, object], requires: tuple[str, ...],
                 environment: Mapping[str, object], written: set[str], origin: SpecPath
                 ) -> list[tuple[SpecPath, str, str]]:
    """(where, message, hint) for each unmet requirement of one use written at `origin`: at the field
    it reads where the use writes that field (`written`), else at the use."""
    problems = []
    for unmet in unmet_requirements(kind, requires, environment):
        field = next((name for name in unmet.reads if name in written), None)
        where = (*origin, field) if field is not None else origin
        problems.append((where, unmet.message, _hint(kind, fields, requires, environment, unmet)))
    return problems


def _hint(kind: str, fields: Mapping[str, object], requires: tuple[str, ...], environment: Mapping[str, object],
          unmet: Unmet) -> str:
    """The default of a field it reads, where that default meets it; else what to choose."""
    for name in unmet.reads:
        default = fields.get(name)
        if default is None or (isinstance(default, str) and "${" in default) or default == environment.get(name):
            continue
        if not unmet_requirements(kind, (requires[unmet.index],), {**environment, name: default}):
            return f"write `{name}: {default}` (the default), or another value for which {unmet.condition}"
    settable = [_WHAT_SETS.get(name, f"`{name}:`") for name in unmet.reads]
    return f"choose {', '.join(settable)} so that {unmet.condition}"
