"""The test oracle for block kinds written in YAML: a second, independent reading of a definition.

It interprets the plain `blocks:` document (never archspec's models or lowered graph): expressions
with Python's own `ast` restricted to the operations of archspec's expression language, each node's
shape with the reference's layer rules (archspec.testing.reference), the joins and the shortcut
options as PyTorch would see them. `defined_shape` is the rule `trace` uses for a stage of a
defined kind; `evaluate` is also what a test uses to build a definition by hand in plain PyTorch.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from archspec.errors import SpecPath
from archspec.testing.reference import Refused, Shape, broadcastable, layer_shape

MAX_NESTING = 16  # the README's bound on blocks inside blocks
_WHOLE = re.compile(r"^\$\{(.*)\}$", re.DOTALL)
_IN = re.compile(r"\bin\b")
_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod}
_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Eq: operator.eq, ast.NotEq: operator.ne,
    ast.Gt: operator.gt, ast.GtE: operator.ge}


class ExpressionFails(Exception):
    """The expression cannot be evaluated (a division by zero, an unknown name, a call not allowed)."""


def divisible(value: float, divisor: int, min_value: int | None = None) -> int:
    """torchvision's `_make_divisible`."""
    floor = divisor if min_value is None else min_value
    new = max(floor, int(value + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * value else new


_CALLS: dict[str, Callable[..., Any]] = {"min": min, "max": max, "round": round, "divisible": divisible}


def evaluate(value: Any, environment: Mapping[str, Any]) -> Any:
    """A written value with its `${...}` evaluated (only whole-value expressions are generated)."""
    if isinstance(value, list):
        return [evaluate(item, environment) for item in value]
    match = _WHOLE.match(value) if isinstance(value, str) else None
    if match is None:
        return value
    text = _IN.sub("in_", match.group(1).strip())  # `in` is a keyword of Python, not of the language
    try:
        return _node(ast.parse(text, mode="eval").body, {**environment, "in_": environment.get("in")})
    except (ZeroDivisionError, SyntaxError, KeyError) as error:
        raise ExpressionFails(f"{value}: {type(error).__name__}") from None


def _node(node: ast.AST, env: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return node.value
    if isinstance(node, ast.Name):
        return env[node.id]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        left, right = _node(node.left, env), _node(node.right, env)
        exact = isinstance(left, int) and isinstance(right, int) and right and left % right == 0
        return left // right if exact else left / right
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](_node(node.left, env), _node(node.right, env))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        number = _node(node.operand, env)
        return -number if isinstance(node.op, ast.USub) else number
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
        return _COMPARE[type(node.ops[0])](_node(node.left, env), _node(node.comparators[0], env))
    if isinstance(node, ast.BoolOp):
        values = [_node(item, env) for item in node.values]
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _CALLS:
        return _CALLS[node.func.id](*(_node(argument, env) for argument in node.args))
    raise ExpressionFails(f"not in the expression language: {ast.dump(node)[:80]}")


@cache
def library_definitions() -> dict[str, dict]:
    """The library's definitions as plain documents (archspec/library/*.yaml)."""
    from archspec.loader import load_document

    folder = Path(__file__).resolve().parent.parent / "library"
    found: dict[str, dict] = {}
    for path in sorted(folder.glob("*.yaml")):
        found.update(load_document(path).data.get("blocks", {}))
    return found


def find_definition(kind: str, blocks: Mapping[str, dict]) -> dict | None:
    """The definition a spec with `blocks` means by `kind`: its own, else the library's."""
    return blocks.get(kind) if kind in blocks else library_definitions().get(kind)


def node_reads(definition: dict) -> Iterator[tuple[int, dict, str, list[str]]]:
    """(index, node, the name readers use, what it reads) for every node. An unnamed node's name is
    `#index`: the documents the strategies draw name every node that a `from` reads."""
    previous = "input"
    for index, node in enumerate(definition["nodes"]):
        name = node.get("name", f"#{index}")
        reads = node.get("from", previous)
        yield index, node, name, [reads] if isinstance(reads, str) else list(reads)
        previous = name


def environment(definition: dict, values: Mapping[str, Any], x: Shape, width: int, stride: int, index: int = 0
                ) -> dict[str, Any]:
    """The names a definition's expressions read; `index`: the copy's index in its stage (0 nested)."""
    env: dict[str, Any] = {"width": width, "stride": stride, "in": x[0], "index": index}
    for field, default in definition.get("fields", {}).items():
        env[field] = evaluate(values.get(field, default), env)
    return env


def _shortcut(option: str, x: Shape, width: int, stride: int, path: SpecPath) -> Shape | None:
    """The shape of a shortcut option toward (width, stride); None where it is removed (`none`)."""
    if option == "none":
        return None
    out = (width, -(-x[1] // stride), -(-x[2] // stride))
    if option == "identity" or out == x:
        return x
    if option == "A" and width < x[0]:
        raise Refused(path, "shortcut A cannot reduce channels", torch_fails=False)
    return out


def _join(op: str, shapes: list[Shape], path: SpecPath, node: dict) -> Shape:
    if op == "slice":
        (x,) = shapes
        start, stop = node.get("start", 0), node["stop"]
        if not 0 <= start < stop <= x[0]:
            raise Refused(path, f"slice {start}:{stop} of {x[0]} channels", torch_fails=False)
        return (stop - start, *x[1:])
    first = shapes[0]
    if op == "concat":
        if any(shape[1:] != first[1:] for shape in shapes):
            raise Refused(path, f"concat of sizes {shapes}")
        return (sum(shape[0] for shape in shapes), *first[1:])
    if all(shape == first for shape in shapes):
        return first
    a, b = shapes
    if op == "mul" and ((a[1:] == (1, 1) and a[0] == b[0]) or (b[1:] == (1, 1) and a[0] == b[0])):
        return a if b[1:] == (1, 1) else b
    raise Refused(path, f"{op} of {a} and {b}", torch_fails=not broadcastable(a, b))


def defined_shape(kind: str, stage: Mapping[str, Any], x: Shape, shortcut: str, blocks: Mapping[str, dict],
                  stride: int, width: int | None = None, depth: int = 0, index: int = 0) -> Shape:
    """One copy of a defined kind on input `x` (`stage` holds its written fields); raises Refused at
    the node of the definition (`("blocks", kind, "nodes", index, ...)`) where it breaks."""
    from archspec.testing.reference import BLOCK_SHAPES

    definition = find_definition(kind, blocks)
    prefix: SpecPath = ("blocks", kind) if kind in blocks else ("library", kind)
    if definition is None or depth > MAX_NESTING:
        raise Refused(prefix, f"no definition of `{kind}` or nested too deep", torch_fails=False)
    env = environment(definition, stage, x, stage.get("width", x[0]) if width is None else width, stride, index)
    shapes: dict[str, Shape | None] = {"input": x}
    name, made = "input", 0  # how many nodes are kept as something (not left out, not an identity)
    for index, node, name, reads in node_reads(definition):
        path = (*prefix, "nodes", index)
        inputs = [shapes[read] for read in reads]
        try:
            keep = evaluate(node.get("when", True), env)
            if not keep:  # a node left out is not made: its settings are never computed
                shapes[name] = shapes[node["else"]] if "else" in node else inputs[0]
                continue
            settings = {key: evaluate(value, env) for key, value in node.items()
                        if key not in ("name", "from", "when", "else")}
        except ExpressionFails as error:
            raise Refused(path, str(error)) from None  # by hand the value cannot be computed either
        made += not ("shortcut" in node or (node.get("op") == "add" and None in inputs))
        if "op" in node and node["op"] == "add" and None in inputs:
            kept = [shape for shape in inputs if shape is not None]
            shapes[name] = kept[0] if len(kept) == 1 else _join("add", kept, path, settings)
        elif "layer" in node:
            shapes[name] = layer_shape(settings, inputs[0], path)  # type: ignore[arg-type]
        elif "op" in node:
            shapes[name] = _join(node["op"], inputs, path, settings)  # type: ignore[arg-type]
        elif "shortcut" in node:
            option = shortcut if node["shortcut"] == "stage" else node["shortcut"]
            shapes[name] = _shortcut(option, inputs[0], settings.get("width", env["width"]),  # type: ignore[arg-type]
                                     settings.get("stride", env["stride"]), path)
            changes = shapes[name] is not None and shapes[name] != inputs[0]
            made += option == "C" or (option in ("A", "B", "D") and changes)  # a projection or a zero-padding
        else:
            nested = {key: value for key, value in settings.items() if key not in ("block", "stride")}
            inner = settings["block"]
            if inner in BLOCK_SHAPES:
                shapes[name] = BLOCK_SHAPES[inner]({"width": inputs[0][0], **nested, "stride": settings.get(  # type: ignore[index]
                    "stride", 1)}, inputs[0], shortcut, path)  # type: ignore[arg-type]
            else:
                shapes[name] = defined_shape(inner, nested, inputs[0], shortcut, blocks,  # type: ignore[arg-type]
                                             settings.get("stride", 1), nested.get("width"), depth + 1)
    if not made:  # archspec's rule, not PyTorch's: the block would be the identity
        raise Refused(prefix, "every node of the block is left out here", torch_fails=False)
    out = shapes[definition.get("output", name)]
    if out is None:
        raise Refused(prefix, "the block's output is a removed shortcut", torch_fails=False)
    return out


def stage_shape(kind: str, stage: Mapping[str, Any], x: Shape, default: str, blocks: Mapping[str, dict]) -> Shape:
    """Every copy of a stage of a defined kind."""
    for copy in range(stage.get("repeats", 1)):
        x = defined_shape(kind, stage, x, stage.get("shortcut") or default, blocks,
                          stage.get("stride", 1) if copy == 0 else 1, index=copy)
    return x


__all__ = ["ExpressionFails", "defined_shape", "evaluate", "find_definition", "library_definitions",
           "node_reads", "stage_shape"]
