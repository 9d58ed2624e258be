"""Near misses of block kinds written in YAML: a drawn valid spec with one value of a definition
changed so that the definition breaks in exactly one way.

Each candidate names the changed path, the new value and where archspec must refuse it: the node
the fault was put in, or for a join fed a wrong shape, the join. Shape faults (`join_channels`,
`join_sizes`) and `division_by_zero` are confirmed by the reference on the drawn spec (it refuses
there, and plain PyTorch fails there too); the structural ones (`from_later`, `dead_node`, `cycle`)
break every use, and archspec refuses them when it loads the spec.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from archspec.errors import SpecPath
from archspec.testing.reference_defined import node_reads

Candidate = tuple[SpecPath, Any, SpecPath]  # (changed path, new value, where archspec refuses)
# Layers whose output has their input's shape: a join's input traced back through them.
_SHAPE_KEEPING = ("batchnorm", "relu", "silu", "hardswish", "sigmoid", "hardsigmoid")


def _definitions(document: dict) -> Iterator[tuple[str, dict, list[tuple[int, dict, str, list[str]]]]]:
    for kind, definition in document.get("blocks", {}).items():
        yield kind, definition, list(node_reads(definition))


def _producer(nodes: list[tuple[int, dict, str, list[str]]], name: str) -> tuple[int, dict] | None:
    """The convolution whose output reaches a join as `name`, through shape-keeping layers."""
    by_name = {node_name: (index, node, reads) for index, node, node_name, reads in nodes}
    while name in by_name:
        index, node, reads = by_name[name]
        if node.get("layer") == "conv" and "when" not in node and node.get("groups") != "depthwise":
            return index, node
        if node.get("layer") not in _SHAPE_KEEPING:
            return None
        name = reads[0]
    return None


def _join_inputs(document: dict, ops: tuple[str, ...]) -> Iterator[tuple[str, int, dict, int]]:
    """(kind, join index, producing convolution, its index) for every join input traced to a conv."""
    for kind, _, nodes in _definitions(document):
        for index, node, _, reads in nodes:
            if node.get("op") in ops:
                for read in reads:
                    found = _producer(nodes, read)
                    if found is not None:
                        yield kind, index, found[1], found[0]


def _plus_one(value: Any) -> Any:
    return value + 1 if isinstance(value, int) else f"${{({value[2:-1]}) + 1}}"


def join_channels(document: dict) -> list[Candidate]:
    return [(("blocks", kind, "nodes", conv, "width"), _plus_one(node["width"]), ("blocks", kind, "nodes", join))
            for kind, join, node, conv in _join_inputs(document, ("add", "mul"))]


def join_sizes(document: dict) -> list[Candidate]:
    return [(("blocks", kind, "nodes", conv, "padding"), node["kernel"] // 2 + 1, ("blocks", kind, "nodes", join))
            for kind, join, node, conv in _join_inputs(document, ("add", "mul", "concat"))]


def from_later(document: dict) -> list[Candidate]:
    found = []
    for kind, _, nodes in _definitions(document):
        for index, _, _, reads in nodes:
            later = [n.get("name") for _, n, _, _ in nodes[index + 1:] if "name" in n]
            if len(reads) == 1 and later:
                where = ("blocks", kind, "nodes", index, "from")
                found += [(where, name, where) for name in later]
    return found


def dead_node(document: dict) -> list[Candidate]:
    """A node reading X made to read the block's input instead, where nothing else reads X."""
    found = []
    for kind, definition, nodes in _definitions(document):
        readers: dict[str, int] = {}
        for _, node, _, reads in nodes:
            for read in [*reads, *([node["else"]] if "else" in node else [])]:
                readers[read] = readers.get(read, 0) + 1
        index_of = {name: index for index, _, name, _ in nodes}
        for index, _, _, reads in nodes:
            if len(reads) == 1 and reads[0] != "input" and readers[reads[0]] == 1 and "output" not in definition:
                found.append((("blocks", kind, "nodes", index, "from"), "input",
                              ("blocks", kind, "nodes", index_of[reads[0]])))
    return found


def division_by_zero(document: dict) -> list[Candidate]:
    found = []
    for kind, _, nodes in _definitions(document):
        for index, node, _, _ in nodes:
            for key, value in node.items():
                if key not in ("name", "from", "when", "else") and isinstance(value, str) and value.startswith("${"):
                    where = ("blocks", kind, "nodes", index, key)
                    found.append((where, f"${{({value[2:-1]}) // (width - width)}}", where))
    return found


def cycle(document: dict) -> list[Candidate]:
    """A node replaced by the block it is in: a block that contains itself."""
    return [(("blocks", kind, "nodes", index), {"block": kind, **{k: node[k] for k in ("name", "from") if k in node}},
             ("blocks", kind, "nodes", index, "block"))
            for kind, _, nodes in _definitions(document) for index, node, _, _ in nodes]


@dataclass(frozen=True)
class DefinitionFault:
    description: str
    candidates: Callable[[dict], list[Candidate]]
    evaluated: bool  # found when a stage uses the block (the reference confirms it); else when loaded


DEFINITION_FAULTS: dict[str, DefinitionFault] = {
    "join_channels": DefinitionFault(
        "a convolution feeding an `add` or `mul` gets one channel more than the join's other input",
        join_channels, evaluated=True),
    "join_sizes": DefinitionFault(
        "a convolution feeding an `add`, `mul` or `concat` gets more padding: its map is larger than "
        "the join's other input's", join_sizes, evaluated=True),
    "division_by_zero": DefinitionFault(
        "an expression of a node divided by `(width - width)`", division_by_zero, evaluated=True),
    "from_later": DefinitionFault("a node's `from` names a later node", from_later, evaluated=False),
    "dead_node": DefinitionFault(
        "the only reader of a node reads the block's input instead: the node is dead", dead_node, evaluated=False),
    "cycle": DefinitionFault("a node replaced by the block it is in", cycle, evaluated=False),
}


__all__ = ["DEFINITION_FAULTS", "DefinitionFault"]
