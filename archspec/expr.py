"""Expressions `${...}`: a small arithmetic language that archspec parses and evaluates itself.

    either  := both ("or" both)*
    both    := compare ("and" compare)*
    compare := expr (("<" | "<=" | "==" | "!=" | ">=" | ">") expr)?
    expr  := term (("+" | "-") term)*
    term  := unary (("*" | "/" | "//" | "%") unary)*
    unary := ("-" | "+") unary | atom
    atom  := NUMBER | NAME | NAME "(" either ("," either)* ")" | "(" either ")"

Names are looked up in an environment the caller gives (a spec's `vars`; later a block's fields).
Functions: `min`, `max` (two or more arguments), `round(x)` (Python's: half to even, gives an int) and
`divisible(v, d[, min_value])` (torchvision's `_make_divisible`: v rounded to a multiple of d, at
least min_value (default d) and never more than 10% below v). `/` of two integers that divide
exactly is an integer (`${64 / 2}` is 32); otherwise it is a float. `//` and `%` are Python's.
Comparisons give true or false (for a design space's `constraints`); they do not chain (`a < b < c`:
write `a < b and b < c`); `and` and `or` join true/false values, so `and` and `or` are not names.

Nothing here calls `eval`: the text is tokenized and parsed by the code below, and only the
operations above exist. Bounded: at most MAX_LENGTH characters, MAX_DEPTH nested parentheses or
signs, and every value, intermediate ones included, within +-MAX_MAGNITUDE (no `**`: a handful of
characters could otherwise ask for a number of billions of digits).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache, partial

from archspec.expr_operations import (
    COMPARISONS,
    FUNCTIONS,
    QUICK_ARITHMETIC,
    arithmetic,
    call_function,
    compare,
    looked_up,
    make_divisible,
    number_of,
    truth_of,
)
from archspec.expr_syntax import (
    FAILED,
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_MAGNITUDE,
    ExprError,
    Node,
    Number,
    UsesFailedName,
    Value,
    _bounded,
    names,
    parse,
)
from archspec.process_memo import forgettable

__all__ = ["FAILED", "MAX_DEPTH", "MAX_LENGTH", "MAX_MAGNITUDE", "Compiled", "ExprError", "Node", "Number", "Piece",
           "UsesFailedName", "Value", "compiled", "evaluate", "has_expression", "interpolate",
           "interpolation", "make_divisible", "names", "parse", "references", "split"]


def evaluate(node: Node, text: str, environment: Mapping[str, object]) -> Value:
    """The value of a parsed expression; raises ExprError naming the name or operation that failed."""
    if node.kind == "number":
        return node.value  # type: ignore[return-value]
    if node.kind == "name":
        return looked_up(str(node.value), node, environment)
    if node.kind in ("negate", "plus"):
        operand = number_of(evaluate(node.children[0], text, environment), node.children[0], text,
                             f"`{node.value}`")
        return -operand if node.kind == "negate" else operand
    arguments = [evaluate(child, text, environment) for child in node.children]
    if node.kind == "logic":
        left, right = (truth_of(value, child, text, f"`{node.value}`")
                       for value, child in zip(arguments, node.children, strict=True))
        return (left and right) if node.value == "and" else (left or right)
    if node.kind == "compare":
        return compare(str(node.value), arguments, node, text)
    if node.kind == "call":
        return call_function(str(node.value), arguments, node, text)
    left, right = (number_of(value, child, text, f"`{node.value}`")
                   for value, child in zip(arguments, node.children, strict=True))
    return _bounded(arithmetic(str(node.value), left, right, node, text), node.start,
                    text[node.start:node.end])


Compiled = Callable[[Mapping[str, object]], Value]


@lru_cache(maxsize=4096)
def compiled(text: str) -> Compiled:
    """The expression as a function of the environment, equal to `evaluate(parse(text), text, env)`
    (the same helpers, in the same order, raise the same errors) but with the dispatch on each node's
    kind and the texts its errors quote worked out once per expression instead of per evaluation:
    a block's expressions are evaluated once per copy and input shape."""
    return _compile(parse(text), text)


def _compile(node: Node, text: str) -> Compiled:
    """Each closure first tries the common case (numbers within bounds, true/false where `and`/`or`
    want them) with the operation alone, and otherwise calls the general helpers on the values it
    has: those check, compute and raise exactly as `evaluate` does."""
    kind, value = node.kind, node.value
    if kind == "number":
        return lambda environment: value  # type: ignore[return-value]
    if kind == "name":
        name = str(value)

        def lookup(environment: Mapping[str, object]) -> Value:
            found = environment.get(name, FAILED)
            kind = type(found)
            if (kind is int or kind is float) and -MAX_MAGNITUDE <= found <= MAX_MAGNITUDE:  # type: ignore[operator]
                return found  # type: ignore[return-value]
            return found if kind is str else looked_up(name, node, environment)  # type: ignore[return-value]
        return lookup
    children = [_compile(child, text) for child in node.children]
    operation = f"`{value}`"
    if kind in ("negate", "plus"):
        (operand,), (child,) = children, node.children
        sign = -1 if kind == "negate" else 1

        def signed(environment: Mapping[str, object]) -> Value:
            found = operand(environment)
            if type(found) is int or type(found) is float:
                return -found if sign < 0 else found  # type: ignore[operator]
            number = number_of(found, child, text, operation)
            return -number if sign < 0 else number
        return signed
    if kind == "logic":
        both = value == "and"

        def logic(environment: Mapping[str, object]) -> Value:
            arguments = [function(environment) for function in children]  # both sides, always
            if type(arguments[0]) is not bool or type(arguments[1]) is not bool:
                arguments = [truth_of(argument, child, text, operation)
                             for argument, child in zip(arguments, node.children, strict=True)]
            left, right = arguments
            return (left and right) if both else (left or right)
        return logic
    if kind == "compare":
        symbol = str(value)
        ordered = COMPARISONS[symbol]
        left_function, right_function = children

        def comparison(environment: Mapping[str, object]) -> Value:
            left, right = left_function(environment), right_function(environment)
            if (type(left) is int or type(left) is float) and (type(right) is int or type(right) is float):
                return ordered(left, right)
            return compare(symbol, [left, right], node, text)
        return comparison
    if kind == "call":
        return _compile_call(str(value), children, node, text)
    (left_function, right_function), (left_node, right_node) = children, node.children
    symbol, shown = str(value), text[node.start:node.end]
    quick, divides = QUICK_ARITHMETIC[symbol], symbol in ("/", "//", "%")

    def binary(environment: Mapping[str, object]) -> Value:
        left, right = left_function(environment), right_function(environment)
        if (type(left) is int or type(left) is float) and (type(right) is int or type(right) is float) \
                and (right or not divides):
            result = quick(left, right)
            if -MAX_MAGNITUDE <= result <= MAX_MAGNITUDE:
                return result
        return _bounded(arithmetic(symbol, number_of(left, left_node, text, operation),
                                    number_of(right, right_node, text, operation), node, text), node.start, shown)
    return binary


def _compile_call(name: str, children: list[Compiled], node: Node, text: str) -> Compiled:
    least, most, function = FUNCTIONS[name]
    if not least <= len(children) <= most:  # `call_function` says so at each evaluation
        return lambda environment: call_function(name, [child(environment) for child in children], node, text)
    divisible = name == "divisible"
    if len(children) == 2 and not divisible:  # min(a, b), max(a, b): no list to make and check
        first, second = children

        def pair(environment: Mapping[str, object]) -> Value:
            left, right = first(environment), second(environment)
            if (type(left) is int or type(left) is float) and (type(right) is int or type(right) is float):
                result = function(left, right)
                if -MAX_MAGNITUDE <= result <= MAX_MAGNITUDE:
                    return result
            return call_function(name, [left, right], node, text)
        return pair

    def call(environment: Mapping[str, object]) -> Value:
        arguments = [child(environment) for child in children]
        for argument in arguments:
            if type(argument) is not int and type(argument) is not float:
                break
        else:
            if not divisible or (type(arguments[1]) is int and arguments[1] >= 1):  # type: ignore[operator]
                result = function(*arguments)
                if -MAX_MAGNITUDE <= result <= MAX_MAGNITUDE:
                    return result
        return call_function(name, arguments, node, text)
    return call


# ---- strings holding expressions --------------------------------------------------------------

@dataclass(frozen=True)
class Piece:
    """A string cut into literal text and expressions: `start` is where the expression's text
    begins in the string (after `${`), for errors that point at the character."""

    literal: str
    expression: str | None = None
    start: int = 0


def has_expression(text: str) -> bool:
    return "${" in text


def split(text: str) -> list[Piece]:
    """`"w${base * 2}x"` -> [Piece("w", "base * 2", 3), Piece("x")]. `\\${` is a literal `${`."""
    return list(_split(text))


@lru_cache(maxsize=4096)
def _split(text: str) -> tuple[Piece, ...]:
    """`split`, cached (Pieces are immutable): a string is evaluated once per sample of a space."""
    pieces: list[Piece] = []
    literal = ""
    index = 0
    while True:
        found = text.find("${", index)
        if found < 0:
            pieces.append(Piece(literal + text[index:]))
            return tuple(pieces)
        if found > 0 and text[found - 1] == "\\":  # escaped: keep `${` as text
            literal += text[index:found - 1] + "${"
            index = found + 2
            continue
        close = text.find("}", found + 2)
        if close < 0:
            raise ExprError("`${` is not closed: add `}`", found + 2)
        pieces.append(Piece(literal + text[index:found], text[found + 2:close], found + 2))
        literal = ""
        index = close + 1


def interpolate(text: str, environment: Mapping[str, object]) -> Value:
    """A string's value: a whole-string `"${expr}"` is the expression's value (a number keeps its type);
    expressions inside a longer string are replaced by their text, as OmegaConf does
    (`"net${depth}"` -> `"net18"`). ExprError.offset is then an index into `text`."""
    return interpolation(text)(environment)


@lru_cache(maxsize=4096)
def interpolation(text: str) -> Compiled:
    """`interpolate(text, ...)` as a function of the environment: a block's strings are evaluated once
    per copy, and a whole-string expression then skips cutting the string and finding its function."""
    try:
        pieces = _split(text)
    except ExprError:
        return partial(_joined, text)  # raises the same error at each evaluation
    if len(pieces) == 2 and not pieces[0].literal and not pieces[1].literal and pieces[0].expression:
        return _piece_function(pieces[0]) or partial(_value_of, pieces[0])
    functions = [_piece_function(piece) if piece.expression is not None else None for piece in pieces]
    if any(function is None for function, piece in zip(functions, pieces) if piece.expression is not None):
        return partial(_joined, text)  # a syntax error: raised, located, at each evaluation
    parts = tuple(zip([piece.literal for piece in pieces], functions))

    def joined(environment: Mapping[str, object]) -> Value:
        made = ""
        for literal, function in parts:
            made += literal if function is None else literal + _text_of(function(environment))
        return made
    return joined


def _piece_function(piece: Piece) -> Compiled | None:
    """The value of one expression of a string, its errors located in the string (None where it does
    not parse)."""
    try:
        function = compiled(piece.expression or "")
    except ExprError:
        return None

    def located(environment: Mapping[str, object]) -> Value:
        try:
            return function(environment)
        except ExprError as error:
            _locate(error, piece)
            raise
    return located


def _joined(text: str, environment: Mapping[str, object]) -> Value:
    """A string with expressions inside, evaluated piece by piece (where one does not parse: the
    pieces before it are evaluated first, and may fail first)."""
    pieces = _split(text)
    return "".join(piece.literal + (_text_of(_value_of(piece, environment)) if piece.expression is not None
                                    else "") for piece in pieces)


def _value_of(piece: Piece, environment: Mapping[str, object]) -> Value:
    try:
        return compiled(piece.expression or "")(environment)
    except ExprError as error:
        _locate(error, piece)
        raise


def _locate(error: ExprError, piece: Piece) -> None:
    """An expression's error as an error of the string that holds it."""
    error.offset += piece.start
    error.message = f"`${{{piece.expression or ''}}}`: {error.message}"


def _text_of(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if not isinstance(value, float) else repr(value)


def references(text: str) -> set[str]:
    """The names the expressions of a string read (an unparsable one reads none: its error comes later)."""
    found: set[str] = set()
    try:
        for piece in _split(text):
            if piece.expression is not None:
                found |= names(parse(piece.expression))
    except ExprError:
        pass
    return found


for _memo in (compiled, _split, interpolation):  # archspec.process_memo: emptied for a fresh-process check
    forgettable(_memo.cache_clear)
