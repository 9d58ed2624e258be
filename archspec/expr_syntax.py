"""The syntax of `${...}` expressions (the grammar is in archspec/expr.py): tokens, the parser and
its bounds, the syntax tree. Evaluating a tree is archspec/expr.py's."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from archspec.errors import did_you_mean
from archspec.process_memo import forgettable

MAX_LENGTH = 200
MAX_DEPTH = 32
MAX_MAGNITUDE = 2**40

# The operators and functions the parser knows; what they do is archspec/expr.py's (which checks
# that its tables name exactly these).
COMPARISON_SYMBOLS = ("<", "<=", "==", "!=", ">=", ">")
FUNCTION_NAMES = ("min", "max", "round", "divisible")

Value = int | float | str | bool
Number = int | float

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\*\*|//|<=|>=|==|!=|[-+*/%(),<>])
""", re.VERBOSE)


class ExprError(Exception):
    """A refused expression: what failed, a hint, and the index in the expression where it failed."""

    def __init__(self, message: str, offset: int = 0, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.hint = hint


class UsesFailedName(Exception):  # a signal, not an error to report
    """The expression uses a name whose own value failed (and was reported already)."""


FAILED = object()  # an environment's value for a name that failed: using it raises UsesFailedName


@dataclass(frozen=True)
class Node:
    kind: str  # "number", "name", "negate", "plus", "binary", "call", "compare", "logic"
    start: int
    end: int
    value: object = None  # the number, the name, the operator or the function name
    children: tuple[Node, ...] = ()


def _tokens(text: str) -> list[tuple[str, str, int]]:
    tokens = []
    index = 0
    while index < len(text):
        match = _TOKEN.match(text, index)
        if match is None:
            raise ExprError(f"unexpected character `{text[index]}`", index,
                            "expressions hold numbers, names, + - * / // %, comparisons, and/or, parentheses and "
                            f"the functions {', '.join(FUNCTION_NAMES)}")
        if match.lastgroup != "space":
            tokens.append((match.lastgroup or "", match.group(), index))
        index = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokens(text)
        self.position = 0
        self.depth = 0

    def peek(self) -> tuple[str, str, int]:
        return self.tokens[self.position] if self.position < len(self.tokens) else ("end", "", len(self.text))

    def take(self, symbol: str) -> bool:
        if self.peek()[:2] == ("op", symbol):
            self.position += 1
            return True
        return False

    def expect(self, symbol: str, what: str) -> None:
        if not self.take(symbol):
            kind, token, offset = self.peek()
            found = "the end" if kind == "end" else f"`{token}`"
            raise ExprError(f"expected {what}, found {found}", offset)

    def parse(self) -> Node:
        if not self.tokens:
            raise ExprError("the expression is empty", 0, "write a number, a name or a formula: `${base * 2}`")
        node = self.either()
        kind, token, offset = self.peek()
        if kind != "end":
            raise ExprError(f"unexpected `{token}` after a complete expression", offset,
                            "join the parts with an operator (+ - * / // %)")
        return node

    def either(self) -> Node:
        return self.joined("or", self.both)

    def both(self) -> Node:
        return self.joined("and", self.compare)

    def joined(self, word: str, operand: Callable[[], Node]) -> Node:
        """Operands joined by `word` (`and`, `or`), left to right."""
        node = operand()
        while self.peek()[:2] == ("name", word):
            self.position += 1
            right = operand()
            node = Node("logic", node.start, right.end, word, (node, right))
        return node

    def compare(self) -> Node:
        node = self.sum()
        kind, symbol, offset = self.peek()
        if kind == "op" and symbol in COMPARISON_SYMBOLS:
            self.position += 1
            right = self.sum()
            node = Node("compare", node.start, right.end, symbol, (node, right))
            kind, symbol, offset = self.peek()
            if kind == "op" and symbol in COMPARISON_SYMBOLS:
                raise ExprError("comparisons do not chain", offset, "join them with `and`: `a < b and b < c`")
        return node

    def sum(self) -> Node:
        node = self.product()
        while (symbol := self.peek()[1]) in ("+", "-") and self.peek()[0] == "op":
            self.position += 1
            right = self.product()
            node = Node("binary", node.start, right.end, symbol, (node, right))
        return node

    def product(self) -> Node:
        node = self.unary()
        while (symbol := self.peek()[1]) in ("*", "/", "//", "%", "**") and self.peek()[0] == "op":
            if symbol == "**":
                raise ExprError("`**` is not supported", self.peek()[2],
                                "write the product (`2 * 2 * 2`) or the number itself")
            self.position += 1
            right = self.unary()
            node = Node("binary", node.start, right.end, symbol, (node, right))
        return node

    def unary(self) -> Node:
        kind, token, offset = self.peek()
        if kind == "op" and token in ("-", "+"):
            self.position += 1
            with self.nested(offset):
                operand = self.unary()
            return Node("negate" if token == "-" else "plus", offset, operand.end, token, (operand,))
        return self.atom()

    def atom(self) -> Node:
        kind, token, offset = self.peek()
        self.position += 1
        if kind == "number":
            return Node("number", offset, offset + len(token), _number(token, offset))
        if kind == "name" and self.take("("):
            if token not in FUNCTION_NAMES:
                raise ExprError(f"unknown function `{token}`", offset,
                                did_you_mean(token, FUNCTION_NAMES) or f"functions: {', '.join(FUNCTION_NAMES)}")
            with self.nested(offset):
                arguments = [self.either()]
                while self.take(","):
                    arguments.append(self.either())
            self.expect(")", f"`,` or `)` to close `{token}(`")
            return Node("call", offset, self.peek_end(), token, tuple(arguments))
        if kind == "name" and token in ("and", "or"):
            raise ExprError(f"expected a value before `{token}`", offset, "`and` and `or` join two comparisons")
        if kind == "name":
            return Node("name", offset, offset + len(token), token)
        if kind == "op" and token == "(":
            with self.nested(offset):
                inner = self.either()
            self.expect(")", "`)`")
            return Node(inner.kind, offset, self.peek_end(), inner.value, inner.children)
        self.position -= 1
        raise ExprError("expected a number, a name or `(`, found " + ("the end" if kind == "end" else f"`{token}`"),
                        offset)

    def peek_end(self) -> int:
        """The index just after the last token taken."""
        _, token, offset = self.tokens[self.position - 1]
        return offset + len(token)

    def nested(self, offset: int) -> _Nesting:
        return _Nesting(self, offset)


class _Nesting:
    def __init__(self, parser: _Parser, offset: int):
        self.parser, self.offset = parser, offset

    def __enter__(self) -> None:
        self.parser.depth += 1
        if self.parser.depth > MAX_DEPTH:
            raise ExprError(f"the expression nests deeper than {MAX_DEPTH} levels", self.offset)

    def __exit__(self, *exc: object) -> None:
        self.parser.depth -= 1


def _number(token: str, offset: int) -> Number:
    value: Number = float(token) if any(c in token for c in ".eE") else int(token)
    return _bounded(value, offset, token)


def _bounded(value: Number, offset: int, shown: str) -> Number:
    if not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
        raise ExprError(f"`{shown}` is too large: values must stay within +-2**40", offset)
    return value


@lru_cache(maxsize=4096)
def parse(text: str) -> Node:
    """The syntax tree of an expression (the text between `${` and `}`); raises ExprError. Cached: a
    spec's or a design space's expressions are parsed once however many times they are evaluated (a
    Node is immutable; an error is not cached, so each raise is a fresh ExprError)."""
    if len(text) > MAX_LENGTH:
        raise ExprError(f"the expression is {len(text)} characters long; at most {MAX_LENGTH} are allowed",
                        0, "move parts of it into `vars`")
    return _Parser(text).parse()


def names(node: Node) -> set[str]:
    """The names an expression reads."""
    found = {str(node.value)} if node.kind == "name" else set()
    for child in node.children:
        found |= names(child)
    return found


forgettable(parse.cache_clear)  # archspec.process_memo: emptied for a fresh-process check
