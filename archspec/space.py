"""Design spaces: a spec in which values may be distributions, and `constraints` between them.

A distribution is a mapping with one of these keys, written where a value goes (a var included):

    {choice: [a, b, c]}        one of the values, each as likely
    {int: [lo, hi]}            a whole number in [lo, hi]; {int: [lo, hi, step]}: lo, lo + step, ...
    {log_int: [lo, hi]}        a whole number, log-uniform (as likely in [8, 16] as in [128, 256]);
                               with a step, rounded to a multiple of it (pycls's `log_uniform`)
    {float: [lo, hi]}          a number in [lo, hi]; with a step, rounded to a multiple of it
    {log_float: [lo, hi]}      a number, log-uniform

`constraints` (top level) is a list of `${...}` expressions over the vars that must all be true;
a draw that breaks one is drawn again, at most MAX_TRIES times per sample. Generators (see
`archspec.generators`) turn the drawn values into stages: `stages: {regnet: {...}}`, or an entry
`{x_stage: {...}}`. Sampling is plain Python `random`, seeded per sample from the seed and the
sample's index, so that a sample is reproducible alone and a run is byte for byte.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from archspec.errors import Diagnostic, SpecError, SpecPath, format_path
from archspec.expr_syntax import MAX_MAGNITUDE
from archspec.loader import Document

Key = str | int  # a key in a mapping or an index in a list

KINDS = ("choice", "int", "log_int", "float", "log_float")
CONSTRAINTS, VARS = "constraints", "vars"
MAX_TRIES = 1_000  # draws per sample until the constraints hold


@dataclass(frozen=True)
class Distribution:
    path: SpecPath
    kind: str
    low: float = 0
    high: float = 0
    step: float | None = None
    options: tuple[object, ...] = ()

    def draw(self, rng: random.Random) -> object:
        if self.kind == "choice":
            return self.options[rng.randrange(len(self.options))]
        if self.kind == "int":
            step = int(self.step or 1)
            return int(self.low) + step * rng.randrange((int(self.high) - int(self.low)) // step + 1)
        if self.kind.startswith("log_"):
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            value = rng.uniform(self.low, self.high)
        if self.step is not None:  # to the nearest multiple of the step that lies in the range
            lowest, highest = math.ceil(self.low / self.step), math.floor(self.high / self.step)
            value = min(max(round(value / self.step), lowest), highest) * self.step
            value = round(value, 12)  # 0.1 * 3 is 0.30000000000000004: written as 0.3
        return round(value) if self.kind == "log_int" else value


@dataclass(frozen=True)
class Space:
    document: Document
    distributions: tuple[Distribution, ...]  # in the order of the text: vars first
    constraints: tuple[str, ...]

    def draw_vars(self, rng: random.Random) -> tuple[dict[SpecPath, object], dict[str, Any]]:
        """The vars' distributions drawn: {path: value}, and the `vars` mapping with them."""
        drawn = {d.path: d.draw(rng) for d in self.distributions if d.path[0] == VARS}
        return drawn, replaced(self.document.data.get(VARS, {}), (VARS,), drawn, self._holders)  # type: ignore[union-attr]

    def draw_rest(self, rng: random.Random, drawn: dict[SpecPath, object]
                  ) -> tuple[dict[str, Any], dict[str, object]]:
        """The other distributions drawn after the vars': the document's data with every distribution
        replaced, and {path as written: value}. Only the containers that hold a distribution are
        copied; the rest is shared with the document."""
        drawn = {**drawn, **{d.path: d.draw(rng) for d in self.distributions if d.path[0] != VARS}}
        return replaced(self.document.data, (), drawn, self._holders), {
            name: drawn[path] for name, path in self._names}

    @cached_property
    def _holders(self) -> dict[SpecPath, tuple[Key, ...]]:
        """The containers that hold a distribution, at any depth (`holders_of`)."""
        return holders_of(d.path for d in self.distributions)

    @cached_property
    def _names(self) -> tuple[tuple[str, SpecPath], ...]:
        return tuple((format_path(d.path), d.path) for d in self.distributions)


def is_distribution(value: object) -> bool:
    return isinstance(value, dict) and len(value) >= 1 and any(key in value for key in KINDS)


def parse_space(document: Document) -> Space:
    """The space's distributions and constraints; SpecError with every malformed one."""
    found: list[Distribution] = []
    errors: list[Diagnostic] = []
    if not isinstance(document.data, dict):
        raise SpecError([document.diagnostic((), "expected a mapping: a spec whose values may be distributions")])
    _collect(document, document.data, (), found, errors)
    constraints = _constraints(document, errors)
    if errors:
        raise SpecError(errors)
    vars_first = sorted(found, key=lambda d: d.path[:1] != (VARS,))
    return Space(document, tuple(vars_first), constraints)


def _collect(document: Document, value: object, path: SpecPath, found: list[Distribution],
             errors: list[Diagnostic]) -> None:
    if is_distribution(value):
        assert isinstance(value, dict)
        try:
            found.append(_distribution(path, value))
        except ValueError as error:
            message, hint = error.args
            errors.append(document.diagnostic(path, message, hint))
        return
    if path == (CONSTRAINTS,):
        return
    if isinstance(value, dict):
        for key, item in value.items():
            _collect(document, item, (*path, key), found, errors)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _collect(document, item, (*path, index), found, errors)


_FORMS = ("`{choice: [a, b]}`, `{int: [lo, hi]}` or `{int: [lo, hi, step]}`, `{log_int: [lo, hi]}`, "
          "`{float: [lo, hi]}`, `{log_float: [lo, hi]}`")


def _distribution(path: SpecPath, written: dict[str, Any]) -> Distribution:
    """A distribution from its mapping; ValueError((message, hint)) if it is malformed."""
    if len(written) != 1:
        other = next((key for key in written if key not in KINDS), list(written)[-1])  # (or a second kind)
        raise ValueError(f"expected a distribution with one key, found `{other}` beside it",
                         f"write the distribution alone: {_FORMS}")
    kind, given = next(iter(written.items()))
    if kind == "choice":
        if not isinstance(given, list) or not given:
            raise ValueError("expected a non-empty list of values after `choice:`", "e.g. `{choice: [1, 2, 4]}`")
        return Distribution(path, kind, options=tuple(given))
    whole = kind.endswith("int")
    numbers = given if isinstance(given, list) else []
    if len(numbers) not in (2, 3) or not all(_is_number(n, whole) for n in numbers):
        number = "whole numbers" if whole else "numbers"
        raise ValueError(f"expected `{kind}: [lo, hi]` or `[lo, hi, step]` with {number}, found {given!r}",
                         f"e.g. `{{{kind}: [8, 64]}}`")
    if any(abs(number) > MAX_MAGNITUDE for number in numbers):  # the draws stay finite, and usable in `${...}`
        raise ValueError(f"expected numbers within +-2**40 ({MAX_MAGNITUDE:,}), found {_shown(given)}",
                         "narrow the range: no field takes a value this large")
    low, high, step = numbers[0], numbers[1], numbers[2] if len(numbers) == 3 else None
    if low > high:
        raise ValueError(f"expected lo <= hi, found the empty range [{low}, {high}]", "swap the two bounds")
    if kind.startswith("log_") and low <= 0:
        raise ValueError(f"expected lo > 0 for a log scale, found {low}", f"use `{kind[4:]}` for ranges from 0")
    if step is not None and step <= 0:
        raise ValueError(f"expected a step > 0, found {step}", None)
    if step is not None and not math.isfinite(max(abs(low), abs(high)) / step):
        raise ValueError(f"expected a larger step: the range holds more than 10**308 multiples of {step}",
                         "write a larger step")
    if step is not None and math.ceil(low / step) > math.floor(high / step) and kind != "int":
        raise ValueError(f"expected a multiple of {step} in [{low}, {high}], found none", "widen the range")
    return Distribution(path, kind, low, high, step)


def _shown(value: object) -> str:
    text = repr(value)  # (a YAML number has at most 4,300 digits: the loader refuses longer ones)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_number(value: object, whole: bool) -> bool:
    return isinstance(value, int if whole else (int, float)) and not isinstance(value, bool)


def _constraints(document: Document, errors: list[Diagnostic]) -> tuple[str, ...]:
    data = document.data
    assert isinstance(data, dict)
    written = data.get(CONSTRAINTS, [])
    if not isinstance(written, list):
        errors.append(document.diagnostic((CONSTRAINTS,), "expected a list of `${...}` expressions",
                                          "e.g. `constraints: [\"${w1 <= w2}\"]`"))
        return ()
    for index, text in enumerate(written):
        if not isinstance(text, str) or not text.strip().startswith("${") or not text.strip().endswith("}"):
            errors.append(document.diagnostic((CONSTRAINTS, index), f"expected one `${{...}}` expression that "
                                              f"is true or false, found {text!r}", "e.g. \"${w1 <= w2}\""))
    return tuple(text for text in written if isinstance(text, str))


def holders_of(paths: Iterable[SpecPath]) -> dict[SpecPath, tuple[Key, ...]]:
    """For `replaced`: each container that holds one of `paths` (at any depth), and which of its keys
    lead there, in the order of `paths`."""
    children: dict[SpecPath, dict[Key, None]] = {}
    for path in paths:
        for end in range(len(path)):
            children.setdefault(path[:end], {})[path[end]] = None
    return {holder: tuple(keys) for holder, keys in children.items()}


def replaced(value: object, path: SpecPath, drawn: dict[SpecPath, object],
             holders: dict[SpecPath, tuple[Key, ...]]) -> Any:
    """`value` with each distribution replaced by its drawn value, copying only the `holders`
    (`holders_of` the drawn paths): the rest is shared with `value`."""
    if path in drawn:
        return drawn[path]
    keys = holders.get(path)
    if keys is None:
        return value
    if isinstance(value, dict):
        copy: Any = dict(value)
        present = [key for key in keys if key in value]
    else:
        assert isinstance(value, list)
        copy = list(value)
        present = [key for key in keys if isinstance(key, int) and key < len(value)]
    for key in present:
        copy[key] = replaced(value[key], (*path, key), drawn, holders)
    return copy


def sample_rng(seed: int, index: int) -> random.Random:
    """The generator of sample `index`: seeded by a string, so that (seed 0, sample 1) and (seed 1,
    sample 0) differ, unlike `seed + index` (a string seed is hashed with SHA-512, on every platform)."""
    return random.Random(f"archspec-sample:{seed}:{index}")

