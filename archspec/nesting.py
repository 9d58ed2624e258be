"""Dotted module names nest: `name: conv1.0` is module `0` of a container `conv1`.

A spec reproduces another codebase's state_dict keys by writing its module paths as names: timm's
deep stem is `conv1.0` ... `conv1.6`, a stage may be `stages.0.blocks`, a head layer `classifier.1`.
`nest_dotted` rewrites a graph's nodes so that consecutive nodes sharing a first component `p`
become one container node `p` (an nn.Sequential: a block node of kind `sequential`) holding the rest
of their names, recursively. Such a group must be a chain: each member reads the one before it, only
the first reads from outside the group, only the last is read from outside it (outside readers of
the last member then read the container). It is one pure rewrite, used for the network's top level,
a list stage's entries and any block graph's nodes; `nest_figures` also regroups nodes already
evaluated, whose qualnames stay the same strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from archspec.errors import SpecPath
from archspec.graph import INPUT, OPS, BlockGraph, Node, Resolved
from archspec.process_memo import forgettable

CONTAINER_KIND = "sequential"


class NestingProblem(NamedTuple):
    origin: SpecPath
    message: str
    hint: str | None


class DottedNameError(ValueError):
    """Dotted names that cannot nest; `problems` holds every one, located at its `name:`."""

    def __init__(self, problems: list[NestingProblem]) -> None:
        super().__init__(problems[0].message)
        self.problems = problems


def has_dotted(nodes: Sequence[Node]) -> bool:
    return any("." in node.name for node in nodes)


def nest_dotted(nodes: Sequence[Node], output: str) -> tuple[tuple[Node, ...], str]:
    """`nodes` (in order; `output` the node the graph returns) with every group of dotted names made
    a container node, recursively. Raises `DottedNameError` naming every group that cannot nest."""
    if not has_dotted(nodes):
        return tuple(nodes), output
    key = (output, tuple((node.name, node.inputs, OPS[node.op].makes_module) for node in nodes))
    known = _SKELETONS.get(key)
    if known is None:  # nested once per arrangement of names: each node stands in as its position
        skeleton = tuple(Node(name, "layer" if module else "add", inputs, index)
                         for index, (name, inputs, module) in enumerate(key[1]))
        problems: list[NestingProblem] = []
        known = _nest(skeleton, output, "", problems)
        if problems:  # said of the nodes themselves, where they are written
            problems = []
            nested, output = _nest(tuple(nodes), output, "", problems)
            if problems:
                raise DottedNameError(problems)
            return nested, output
        if len(_SKELETONS) > 4096:
            _SKELETONS.clear()
        _SKELETONS[key] = known
    return _filled(known[0], nodes), known[1]


# How nodes of given names, inputs and module-or-not nest: a block's copies mostly share one arrangement
# (`_nest` of nodes standing in for them; `_filled` puts the nodes in). Depends on nothing else.
_SKELETONS: dict[object, tuple[tuple[Node, ...], str]] = {}
forgettable(_SKELETONS.clear)


def _filled(skeleton: tuple[Node, ...], nodes: Sequence[Node]) -> tuple[Node, ...]:
    """The nested nodes: each stand-in (its payload the node's position) replaced by the node, renamed
    and reading what the stand-in reads; each container holding its members so, where its first
    member is written."""
    filled = []
    for stand_in in skeleton:
        if type(stand_in.payload) is int:
            node = nodes[stand_in.payload]
            if (stand_in.name, stand_in.inputs) != (node.name, node.inputs):  # `_replace`, the faster way
                node = node._make((stand_in.name, node.op, stand_in.inputs, *node[3:]))
        else:
            first = stand_in
            while type(first.payload) is not int:
                first = first.payload.nodes[0]
            written = nodes[first.payload]
            node = Node(stand_in.name, "block", stand_in.inputs,
                        stand_in.payload._replace(nodes=_filled(stand_in.payload.nodes, nodes)),
                        written.origin, written.written)
        filled.append(node)
    return tuple(filled)


def _at(node: Node) -> SpecPath:
    return (*node.origin, "name") if node.written else node.origin


def _nest(nodes: tuple[Node, ...], output: str, path: str, problems: list[NestingProblem]
          ) -> tuple[tuple[Node, ...], str]:
    if not has_dotted(nodes):
        return nodes, output
    readers: dict[str, list[str]] = {output: [""]}  # "": the graph's output
    for node in nodes:
        for name in node.inputs:
            readers.setdefault(name, []).append(node.name)
    plain = {node.name for node in nodes if "." not in node.name}
    renamed: dict[str, str] = {}  # a group's last member -> its container
    ended: dict[str, int] = {}  # where each container's group ended
    result: list[Node] = []
    for prefix, start, stop in runs([node.name for node in nodes]):
        if prefix is None:
            node = nodes[start]
            inputs = tuple(renamed.get(name, name) for name in node.inputs) if renamed else node.inputs
            result.append(node if inputs == node.inputs else node._replace(inputs=inputs))
            continue
        group = nodes[start:stop]
        between = (f"`{path}{nodes[ended[prefix]].name}` comes between `{path}{nodes[ended[prefix] - 1].name}`"
                   if prefix in ended else None)
        faults = _group_faults(group, readers, path, prefix, between, prefix in plain)
        problems += faults
        ended.setdefault(prefix, stop)
        if faults:
            continue
        inner_names = [member.name.split(".", 1)[1] for member in group]
        # `member._replace(name=..., inputs=...)` made from the fields in order (name, op, inputs, ...): faster
        members = [member._make((inner_names[index], member.op, (inner_names[index - 1],) if index else (INPUT,),
                                 *member[3:])) for index, member in enumerate(group)]
        inner, inner_output = _nest(tuple(members), members[-1].name, f"{path}{prefix}.", problems)
        graph = BlockGraph(CONTAINER_KIND, inner, inner_output, sequential=True)
        inputs = tuple(renamed.get(name, name) for name in group[0].inputs)
        result.append(Node(prefix, "block", inputs, graph, group[0].origin, group[0].written))
        renamed[group[-1].name] = prefix
    return tuple(result), renamed.get(output, output)


def runs(names: Sequence[str]) -> list[tuple[str | None, int, int]]:
    """`names` cut into runs `(prefix, start, stop)`: consecutive dotted names sharing the first
    component `prefix`, or one plain name (prefix None)."""
    found: list[tuple[str | None, int, int]] = []
    for index, name in enumerate(names):
        prefix = name.split(".", 1)[0] if "." in name else None
        if prefix is not None and found and found[-1][0] == prefix:
            found[-1] = (prefix, found[-1][1], index + 1)
        else:
            found.append((prefix, index, index + 1))
    return found


Tree = list["int | Tree"]  # positions of a chain's nodes, a container's members as a list


def chain_tree(names: Sequence[str]) -> Tree | None:
    """How a chain of nodes named `names` nests: each position, or a list for a container (of
    positions and lists); None where a container's members do not follow one another (`nest_dotted`
    says what is wrong). The static twins fold their figures with it without making the graph."""
    tree: Tree = []
    seen: set[str] = set()
    for prefix, start, stop in runs(names):
        if prefix is None:
            tree.append(start)
            continue
        inner = chain_tree([name.split(".", 1)[1] for name in names[start:stop]])
        if prefix in seen or inner is None:
            return None
        seen.add(prefix)
        tree.append([_shifted(item, start) for item in inner])
    return tree if not seen & {name for name in names if "." not in name} else None


def _shifted(item: int | Tree, offset: int) -> int | Tree:
    return item + offset if isinstance(item, int) else [_shifted(inner, offset) for inner in item]


def _group_faults(group: tuple[Node, ...], readers: dict[str, list[str]], path: str, prefix: str,
                  between: str | None, clashes: bool) -> list[NestingProblem]:
    """Why the nodes named `container.*` in `group` cannot be one nn.Sequential (none: they can);
    `between`: which node comes between an earlier group of them and this one."""
    if between is None and not clashes and _chains(group, readers):
        return []  # the common case, told before any message is written
    container = path + prefix
    hint = (f"write the nodes named `{container}.*` one after another, each reading the one before, "
            f"with only the last read by later nodes; or give the others names outside `{container}`")
    what = f"nodes named `{container}.*` must follow one another as a chain (an nn.Sequential `{container}`)"
    if between is not None:
        return [NestingProblem(_at(group[0]), f"{what}, but {between} and "
                               f"`{container}.{group[0].name.split('.', 1)[1]}`", hint)]
    if clashes:
        return [NestingProblem(_at(group[0]), f"`{container}` names a module and also the container of "
                               f"`{container}.{group[0].name.split('.', 1)[1]}`",
                               "rename one of them: a module of one parent has one name")]
    faults = []
    for index, member in enumerate(group):
        full = f"{container}.{member.name.split('.', 1)[1]}"
        if not OPS[member.op].makes_module:
            faults.append(NestingProblem(_at(member), f"`{full}` is an `{member.op}`, which makes no module: "
                                         "only layers and blocks can be inside a container",
                                         f"remove the dot from `{full}`'s name"))
        elif index and member.inputs != (group[index - 1].name,):
            faults.append(NestingProblem(_at(member), f"{what}, but `{full}` reads "
                                         f"{', '.join(f'`{name}`' for name in member.inputs)} instead of "
                                         f"`{container}.{group[index - 1].name.split('.', 1)[1]}` alone",
                                         hint))
        outside = [f"`{path}{reader}`" if reader else "the output" for reader in readers.get(member.name, [])
                   if index + 1 == len(group) or reader != group[index + 1].name]
        if index + 1 < len(group) and outside:
            faults.append(NestingProblem(_at(member), f"{what}, but {', '.join(outside)} reads `{full}`, which "
                                         f"is not the last of them", hint))
    return faults


def _chains(group: tuple[Node, ...], readers: dict[str, list[str]]) -> bool:
    """Whether `group` is a chain of modules that only its last member leaves (`_group_faults` finds none)."""
    for index, member in enumerate(group):
        if not OPS[member.op].makes_module or (index and member.inputs != (group[index - 1].name,)):
            return False
        if index + 1 < len(group) and any(reader != group[index + 1].name for reader in readers.get(member.name, ())):
            return False
    return True


def nest_resolved(nodes: Sequence[Node], flat: Sequence[Resolved]) -> tuple[Resolved, ...]:
    """The figures of nested `nodes` from those of the nodes before nesting (`flat`, by node name):
    a container's are its chain's. Stops at the first node without figures (evaluation stopped)."""
    by_name = {resolved.node.name: resolved for resolved in flat}
    return tuple(_regroup(nodes, by_name, ""))


def _regroup(nodes: Sequence[Node], by_name: dict[str, Resolved], path: str) -> list[Resolved]:
    result: list[Resolved] = []
    for node in nodes:
        if not OPS[node.op].makes_module:
            continue
        full = path + node.name
        known = by_name.get(full)
        if known is not None:  # the evaluated node (a defined block's is its graph), under its nested name
            result.append(known._replace(node=known.node._replace(name=node.name, inputs=node.inputs)))
            continue
        if node.op != "block" or node.payload.kind != CONTAINER_KIND:
            break
        children = _regroup(node.payload.nodes, by_name, full + ".")
        if len(children) != len(node.payload.nodes):
            break  # a member was not evaluated
        first = children[0]
        qualname = first.qualname[:-len(first.node.name) - 1]
        result.append(Resolved(node, qualname, first.in_shape, children[-1].out_shape,
                               sum(child.params for child in children), sum(child.macs for child in children),
                               tuple(children)))
    return result


def nest_figures(nodes: Sequence[Node], resolved: Sequence[Resolved], output: str | None = None
                 ) -> tuple[tuple[Node, ...], tuple[Resolved, ...], list[NestingProblem]]:
    """A chain's nodes and their figures nested (unchanged, with the problems, where they cannot be)."""
    if not has_dotted(nodes):
        return tuple(nodes), tuple(resolved), []
    try:
        nested, _ = nest_dotted(nodes, output or (nodes[-1].name if nodes else INPUT))
    except DottedNameError as error:
        return tuple(nodes), tuple(resolved), error.problems
    return nested, nest_resolved(nested, resolved), []
