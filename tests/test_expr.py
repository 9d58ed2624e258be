"""The `${...}` expression language (archspec/expr.py): grammar, precedence, types, limits, errors that
say which name or operation failed and where, and safety (nothing is ever run)."""

from __future__ import annotations

from pathlib import Path

import pytest

import archspec
from archspec.expr import MAX_LENGTH, ExprError, interpolate, parse, references

ENV = {"base": 64, "classes": 1000, "ratio": 0.25, "act": "relu", "flag": True}


@pytest.mark.parametrize(("text", "expected"), [
    ("${1 + 2 * 3}", 7),
    ("${(1 + 2) * 3}", 9),
    ("${10 - 4 - 3}", 3),  # left to right
    ("${2 * 3 % 4}", 2),  # same level as *: (2 * 3) % 4
    ("${-2 * -3}", 6),
    ("${+4 - -4}", 8),
    ("${base * 2}", 128),
    ("${base / 2}", 32),  # an exact division of integers stays an integer
    ("${base / 3}", 64 / 3),
    ("${base // 3}", 21),
    ("${-7 // 2}", -4),  # Python's floor division
    ("${-7 % 3}", 2),
    ("${7.5 // 2}", 3.0),
    ("${base * ratio}", 16.0),
    ("${1e-5}", 1e-5),
    ("${.5 + 1.}", 1.5),
    ("${min(3, base, 7)}", 3),
    ("${max(base, classes / 10)}", 100),
    ("${round(2.5)}", 2),  # Python's: half to even
    ("${round(3.5)}", 4),
    ("${round(base * 0.3)}", 19),
    ("${divisible(base * 0.75, 8)}", 48),
    ("${divisible(3, 8, 16)}", 16),
    ("${act}", "relu"),
    ("${flag}", True),
    ("${ base }", 64),
])
def test_values(text: str, expected: object):
    value = interpolate(text, ENV)
    assert value == expected and type(value) is type(expected)


def test_divisible_is_torchvisions_make_divisible():
    from torchvision.models._utils import _make_divisible

    for value in [1, 3, 7.5, 8, 15.9, 16, 23, 24.1, 37, 100, 255.5, 1000, 1_000_003]:
        for divisor in [1, 3, 8, 16]:
            for least in [None, 1, 32]:
                arguments = f"{value}, {divisor}" + (f", {least}" if least is not None else "")
                assert interpolate(f"${{divisible({arguments})}}", {}) == _make_divisible(value, divisor, least)


@pytest.mark.parametrize(("text", "expected"), [
    ("net${base}", "net64"),
    ("${base}x${base}", "64x64"),
    ("${ratio}-${flag}", "0.25-true"),
    (" ${base}", " 64"),  # not the whole string: text
    (r"cost \${base}", "cost ${base}"),  # an escaped `${` stays text
    ("plain", "plain"),
])
def test_expressions_inside_a_longer_string_are_interpolated(text: str, expected: str):
    assert interpolate(text, ENV) == expected


@pytest.mark.parametrize(("text", "words", "offset", "hint"), [
    ("${bse * 2}", "unknown name `bse`", 2, "did you mean `base`?"),
    ("${base / (base - base)}", "division by zero: `(base - base)` is 0", 9, None),
    ("${base % 0}", "division by zero: `0` is 0", 9, None),
    ("${2 ** 10}", "`**` is not supported", 4, "product"),
    ("${act + 1}", "`+` needs a number, but `act` is 'relu'", 2, None),
    ("${-flag}", "`-` needs a number, but `flag` is true", 3, None),
    ("${max(1)}", "`max` takes 2 to 16 arguments, found 1", 2, None),
    ("${round(1, 2)}", "`round` takes 1 argument, found 2", 2, None),
    ("${nope(1)}", "unknown function `nope`", 2, "functions: min, max, round, divisible"),
    ("${mni(1, 2)}", "unknown function `mni`", 2, "did you mean `min`?"),
    ("${divisible(5, 0)}", "`divisible` needs a whole divisor of at least 1", 15, None),
    ("${1 2}", "unexpected `2` after a complete expression", 4, None),
    ("${(1 + 2}", "expected `)`, found the end", 8, None),
    ("${}", "the expression is empty", 2, None),
    ("${base", "`${` is not closed", 2, None),
    ("${base.width}", "unexpected character `.`", 6, None),
    ("${1099511627776 * 2}", "`1099511627776 * 2` is too large", 2, None),
    ("${1099511627777}", "`1099511627777` is too large", 2, None),
    ("${1e300}", "is too large", 2, None),
])
def test_errors_say_what_failed_and_where(text: str, words: str, offset: int, hint: str | None):
    with pytest.raises(ExprError) as refused:
        interpolate(text, ENV)
    assert words in refused.value.message
    assert refused.value.message.startswith(f"`{text}`: ") or "not closed" in words  # names the expression
    assert refused.value.offset == offset
    if hint is not None:
        assert hint in (refused.value.hint or "")


def test_limits_on_length_nesting_and_magnitude():
    assert interpolate("${" + "1+" * 99 + "1}", {}) == 100  # 199 characters: allowed
    with pytest.raises(ExprError, match=f"at most {MAX_LENGTH}"):
        parse("1+" * 100 + "1")
    with pytest.raises(ExprError, match="nests deeper than 32"):
        parse("(" * 33 + "1" + ")" * 33)
    with pytest.raises(ExprError, match="nests deeper"):
        parse("-" * 40 + "1")
    assert interpolate("${1099511627776}", {}) == 2**40
    with pytest.raises(ExprError, match="too large"):  # an intermediate value is bounded too
        interpolate("${1099511627776 * 1024 / 1024}", {})
    with pytest.raises(ExprError, match="too large"):  # and a name's value
        interpolate("${huge - 1}", {"huge": 2**41})


def test_references_are_the_names_read():
    assert references("${a * b} and ${min(c, 2)}") == {"a", "b", "c"}
    assert references("${bad +}") == set()  # its error comes when it is evaluated


def test_python_is_never_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The classic injection is refused with a located error, and the file it would create is not."""
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "attack.yaml"
    spec.write_text("name: attack\ninput: {channels: 3, size: 8}\n"
                    "description: \"${__import__('os').system('touch pwned')}\"\n"
                    "head: [{layer: flatten}, {layer: linear, width: \"${__import__('os').getpid()}\"}]\n")
    with pytest.raises(archspec.SpecError) as refused:
        archspec.load(spec)
    assert not (tmp_path / "pwned").exists()
    assert [(d.path, d.line) for d in refused.value.errors] == [(("description",), 3), (("head", 1, "width"), 4)]
    assert all("unexpected character `'`" in d.message for d in refused.value.errors)


@pytest.mark.parametrize(("text", "expected"), [
    ("${base <= 64}", True),
    ("${base < 64}", False),
    ("${base * 2 == 128}", True),  # arithmetic binds tighter than comparison
    ("${base != classes}", True),
    ("${base >= 64 and classes > 999}", True),
    ("${base > 64 or classes == 1000}", True),
    ("${base > 64 or classes == 1000 and ratio < 0}", False),  # `and` binds tighter than `or`
    ("${(base > 64 or classes == 1000) and ratio < 0}", False),
    ("${act == act}", True),  # strings compare for (in)equality
    ("${max(base, 8) % 8 == 0}", True),
])
def test_comparisons_and_logic(text, expected):
    assert interpolate(text, ENV) is expected


@pytest.mark.parametrize(("text", "words", "offset"), [
    ("${1 < base < 100}", "do not chain", 11),
    ("${base and flag}", "needs true or false", 2),
    ("${(base < 1) + 1}", "needs a number", 2),
    ("${act < 3}", "needs a number", 2),
    ("${and}", "expected a value before `and`", 2),
])
def test_comparisons_refuse_what_they_cannot_mean(text, words, offset):
    with pytest.raises(ExprError) as caught:
        interpolate(text, ENV)
    assert words in caught.value.message and caught.value.offset == offset
