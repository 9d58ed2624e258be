"""What each operation of `${...}` expressions does (archspec/expr.py evaluates them, archspec/expr_syntax.py
parses them), and the errors it raises: a name's value, numbers where arithmetic needs them, true/false
where `and`/`or` need them, comparisons, arithmetic and the functions, each value within bounds."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping

from archspec.errors import did_you_mean
from archspec.expr_syntax import (
    COMPARISON_SYMBOLS,
    FAILED,
    FUNCTION_NAMES,
    ExprError,
    Node,
    Number,
    UsesFailedName,
    Value,
    _bounded,
)


def looked_up(name: str, node: Node, environment: Mapping[str, object]) -> Value:
    if name not in environment:
        known = sorted(environment)
        hint = did_you_mean(name, known) or (f"known names: {', '.join(known)}" if known
                                            else "define it under `vars:`")
        raise ExprError(f"unknown name `{name}`", node.start, hint)
    value = environment[name]
    if value is FAILED:
        raise UsesFailedName(name)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _bounded(value, node.start, name)
    return value  # type: ignore[return-value]


def shown_value(value: object) -> str:
    """A value as an error shows it: true and false as a spec writes them, anything else as repr."""
    return ("true" if value else "false") if isinstance(value, bool) else repr(value)


def number_of(value: Value, node: Node, text: str, operation: str) -> Number:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ExprError(f"{operation} needs a number, but `{text[node.start:node.end]}` is {shown_value(value)}",
                        node.start)
    return value


COMPARISONS: dict[str, Callable[[Number, Number], bool]] = {
    "<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne, ">=": operator.ge, ">": operator.gt}


def truth_of(value: Value, node: Node, text: str, operation: str) -> bool:
    if not isinstance(value, bool):
        raise ExprError(f"{operation} needs true or false, but `{text[node.start:node.end]}` is {value!r}",
                        node.start, "compare values first: `a <= b and b % 8 == 0`")
    return value


def compare(symbol: str, arguments: list[Value], node: Node, text: str) -> bool:
    """Numbers compare with numbers; `==` and `!=` also compare strings (a sampled `choice`)."""
    left, right = arguments
    if symbol in ("==", "!=") and isinstance(left, str) and isinstance(right, str):
        return COMPARISONS[symbol](left, right)
    left, right = (number_of(value, child, text, f"`{symbol}`")
                   for value, child in zip(arguments, node.children, strict=True))
    return COMPARISONS[symbol](left, right)


def arithmetic(symbol: str, left: Number, right: Number, node: Node, text: str) -> Number:
    if symbol in ("/", "//", "%") and right == 0:
        divisor = node.children[1]
        raise ExprError(f"division by zero: `{text[divisor.start:divisor.end]}` is 0", divisor.start)
    if symbol == "+":
        return left + right
    if symbol == "-":
        return left - right
    if symbol == "*":
        return left * right
    if symbol == "/":
        return divide(left, right)
    if symbol == "//":
        return left // right
    return left % right


def divide(left: Number, right: Number) -> Number:
    """`/`: an integer where two integers divide exactly."""
    return left // right if isinstance(left, int) and isinstance(right, int) and left % right == 0 else left / right


# `arithmetic` without its checks, for numbers (not true/false) and a divisor that is not 0.
QUICK_ARITHMETIC: dict[str, Callable[[Number, Number], Number]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": divide, "//": operator.floordiv,
    "%": operator.mod}


def make_divisible(v: Number, divisor: Number, min_value: Number | None = None) -> Number:
    """torchvision.models._utils._make_divisible, line for line."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:  # rounding down must not lose more than 10%
        new_v += divisor
    return new_v


# name: (least and most arguments, function)
FUNCTIONS: dict[str, tuple[int, int, Callable[..., Number]]] = {
    "min": (2, 16, min),
    "max": (2, 16, max),
    "round": (1, 1, round),
    "divisible": (2, 3, make_divisible),
}


assert tuple(COMPARISONS) == COMPARISON_SYMBOLS and tuple(FUNCTIONS) == FUNCTION_NAMES  # the parser's


def call_function(name: str, arguments: list[Value], node: Node, text: str) -> Number:
    least, most, function = FUNCTIONS[name]
    if not least <= len(arguments) <= most:
        count = f"{least}" if least == most else f"{least} to {most}"
        raise ExprError(f"`{name}` takes {count} argument{'s' if most > 1 else ''}, found {len(arguments)}",
                        node.start)
    numbers = [number_of(value, child, text, f"`{name}`")
               for value, child in zip(arguments, node.children, strict=True)]
    if name == "divisible" and (not isinstance(numbers[1], int) or numbers[1] < 1):
        divisor = node.children[1]
        raise ExprError(f"`divisible` needs a whole divisor of at least 1, but "
                        f"`{text[divisor.start:divisor.end]}` is {numbers[1]!r}", divisor.start)
    return _bounded(function(*numbers), node.start, text[node.start:node.end])
