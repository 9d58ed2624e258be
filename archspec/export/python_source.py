"""`--format python`: readable, standalone PyTorch source for a compiled spec.

One class for the network, named after the spec, and one small class per group of blocks with the
same structure (python_classes.py), each with a straight-line `forward`. A comment gives the output
shape on every line where the shape changes, written so that it is exact for every block the class
builds (`N x out_channels x H/2 x W/2`); a shape no single formula covers gets no comment. Sequences
numbered 0, 1, ... are written as `nn.Sequential`. The generated file imports only torch.
"""

from __future__ import annotations

import inspect
import keyword
import textwrap

from torch import nn

from archspec.check import Report
from archspec.export import ExportError, camel_case, shortcut_kind
from archspec.export.modern_sources import MODERN_SOURCES
from archspec.export.python_classes import (
    BARE,
    Block,
    Collector,
    Group,
    Item,
    Leaf,
    Listing,
    assign_params,
    base_name,
)
from archspec.graph import INPUT, OPS, BlockGraph, Node, Resolved, block_node, consumers
from archspec.nesting import CONTAINER_KIND

INDENT = "    "
WIDTH = 100  # the longest line written
_POSITIONAL = frozenset({"in_channels", "out_channels", "num_features", "in_features", "out_features"})
_SUFFIXES = {"identity": "", "projection": "Projection", "zero-pad": "ZeroPad", "none": "Plain"}

# Copies of archspec.modules' own leaf modules; each computes exactly what the original computes.
_OWN_SOURCES = {"ZeroPadShortcut": '''
class ZeroPadShortcut(nn.Module):
    """He et al.'s option A shortcut: subsample by the stride, then add zero channels after the
    input's, or half before and half after them (`both_sides`)."""

    def __init__(self, stride: int, extra_channels: int, both_sides: bool = False) -> None:
        super().__init__()
        self.stride = stride
        self.extra_channels = extra_channels
        self.both_sides = both_sides

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        before = self.extra_channels // 2 if self.both_sides else 0
        return nn.functional.pad(x, (0, 0, 0, 0, before, self.extra_channels - before))
''', **MODERN_SOURCES}


def python_source(report: Report, network: nn.Module, weights_file: str | None = None) -> str:
    """The generated module's text. `weights_file`: a state_dict saved beside it, named in the usage."""
    if not report.ok or report.output_shape is None:
        raise ExportError("the spec has errors; fix them before exporting")
    nodes = report.nodes
    chain = BlockGraph("network", nodes, nodes[-1].name if nodes else INPUT, sequential=True)
    whole = Resolved(block_node(report.spec.name, chain, ()), "",
                     report.input_shape, report.output_shape, report.params, report.macs,
                     report.resolved)
    collector = Collector()
    top = collector.item("", whole, network)
    assert isinstance(top, Block) and top.group is collector.groups[-1]  # the top is made last
    assign_params(collector.groups)
    _name_groups(collector.groups, camel_case(report.spec.name))
    parts = [_module_docstring(report, top.group.name, weights_file), "import torch\nfrom torch import nn"]
    parts += [_OWN_SOURCES[cls.__name__] for cls in sorted(collector.own_modules, key=str)]
    parts += [_class_text(group, _top_docstring(report) if group is top.group else _docstring_of(group))
              for group in collector.groups]
    example = ", ".join(str(d) for d in (1, *report.input_shape))
    outputs = ", ".join(str(d) for d in (1, *report.output_shape))
    parts.append(f'if __name__ == "__main__":\n{INDENT}model = {top.group.name}().eval()\n'
                 f"{INDENT}print(model(torch.zeros({example})).shape)  # torch.Size([{outputs}])")
    return _checked("\n\n\n".join(part.strip("\n") for part in parts) + "\n")


def _checked(text: str) -> str:
    """The text, once it is sure to be printable Python: a file that does not compile is never
    written (it would be reported as written, and fail only where it is imported)."""
    unprintable = next((c for c in text if not (c.isprintable() or c == "\n")), None)
    try:
        compile(text, "<generated>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as error:
        raise ExportError(f"internal error: the generated source does not compile ({error})") from None
    if unprintable is not None:
        raise ExportError(f"internal error: the generated source holds the character {unprintable!r}")
    return text


def _kind_or_name(group: Group) -> str:
    """What a class is named after: a stage's name; a container that dotted names make (`denseblock1`
    of `denseblock1.denselayer1`) by its module name where every use has that name (`downsample` in
    each block), else its kind; any other block by its kind."""
    node = group.first.resolved.node
    attrs = {block.attr for block in group.blocks}
    if node.kind == "stage" or (node.kind == CONTAINER_KIND and len(attrs) == 1 and not attrs.pop().isdigit()):
        return node.name.rsplit(".", 1)[-1]
    return node.kind


def _name_groups(groups: list[Group], top_name: str) -> None:
    """The network's class gets the spec's name; a block class its kind, then its shortcut, then a number.
    No two classes share a name: the network's class gives way to a copied module (a spec named
    `zero_pad_shortcut` gets ZeroPadShortcutNet), block classes give way to both."""
    *blocks, top = groups
    while top_name in _OWN_SOURCES:
        top_name += "Net"
    top.name = top_name
    names = []
    for group in blocks:
        node = group.first.resolved.node
        names.append(base_name(group, camel_case(_kind_or_name(group))))
    for number, group in enumerate(blocks):
        node = group.first.resolved.node
        if names.count(names[number]) > 1 and shortcut_kind(node) is not None:
            names[number] += _SUFFIXES[shortcut_kind(node)]
    taken = {top_name, *_OWN_SOURCES}
    for number, group in enumerate(blocks):
        name = names[number]
        if names.count(name) > 1:
            name += str(names[:number + 1].count(name))
        while name in taken:
            name += "_"
        taken.add(name)
        group.name = name


def _class_text(group: Group, docstring: str) -> str:
    parameters = ["self", *(f"{param.name}{_annotation(param.values)}" for param in group.params)]
    signature = f"{INDENT}def __init__({', '.join(parameters)}) -> None:"
    if len(signature) > WIDTH:
        signature = "\n".join([f"{INDENT}def __init__(", *(f"{INDENT * 2}{p}," for p in parameters),
                               f"{INDENT}) -> None:"])
    init = ["super().__init__()"]
    for parallel in zip(*(block.children for block in group.blocks)):
        attr = parallel[0].attr
        lines = _expression(group, list(parallel), attr)
        if _is_attribute(attr):
            lines[0] = f"self.{attr} = {lines[0]}"
        else:  # a name that cannot follow a dot (`0`, a keyword): the same state_dict key all the same
            lines[-1] += ")"
            lines[0] = f'self.add_module("{attr}", {lines[0]}'
        init += lines
    inputs = group.shape_text([block.resolved.in_shape for block in group.blocks])
    forward = ([f"# x: {inputs}"] if inputs else []) + _forward(group)
    lines = [f"class {group.name}(nn.Module):", *_docstring(docstring, INDENT), "",
             signature, *[INDENT * 2 + line for line in init], "",
             f"{INDENT}def forward(self, x: torch.Tensor) -> torch.Tensor:",
             *[INDENT * 2 + line for line in forward]]
    return "\n".join(fitted for line in lines for fitted in _fit(line.rstrip()))


def _fit(line: str) -> list[str]:
    """A long line: its shape comment goes on a line of its own above it; long arguments get a line,
    or one line each where they do not fit on one."""
    if len(line) <= WIDTH:
        return [line]
    code, marker, comment = line.partition("  # N x ")
    indent = code[:len(code) - len(code.lstrip())]
    lines = [f"{indent}# N x {comment}"] if marker else []
    head, _, arguments = code.partition("(")
    closing = ")," if code.endswith("),") else ")"
    if len(code) <= WIDTH or not code.endswith(closing):
        return [*lines, code]
    inner = arguments[:-len(closing)]
    if len(indent + INDENT + inner) <= WIDTH:
        return [*lines, f"{head}(", f"{indent}{INDENT}{inner}", f"{indent}{closing}"]
    one_per_line = [f"{indent}{INDENT}{argument}," for argument in _arguments(inner)]
    return [*lines, f"{head}(", *one_per_line, f"{indent}{closing}"]


def _arguments(text: str) -> list[str]:
    """A call's arguments, split at the commas outside brackets and strings."""
    parts: list[str] = []
    depth, quote, start = 0, "", 0
    for index, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:index].strip())
            start = index + 1
    return [*parts, text[start:].strip()]


def _expression(group: Group, parallel: list[Item], path: str) -> list[str]:
    """A constructor expression; its first line unindented, later lines relative to it."""
    item = parallel[0]
    if isinstance(item, Leaf) and item.callee == BARE:
        channels, scale = group.text(path + ".channels"), group.text(path + ".scale")
        return [f"nn.Parameter(torch.ones({channels}, 1, 1) * {scale})"]
    if isinstance(item, Leaf):
        arguments, by_keyword = [], False
        for argument in item.arguments:
            slot = f"{path}.{argument.name}"
            if argument.default is not inspect.Parameter.empty and group.is_default(slot, argument.default):
                by_keyword = True  # a position is skipped: the rest go by keyword
                continue
            by_keyword = by_keyword or argument.name not in _POSITIONAL
            text = group.text(slot)
            arguments.append(f"{argument.name}={text}" if by_keyword else text)
        return [f"{item.callee}({', '.join(arguments)})"]
    if isinstance(item, Block):
        arguments = [group.text(f"{path}.{param.name}") for param in item.group.params]
        return [f"{item.group.name}({', '.join(arguments)})"]
    assert isinstance(item, Listing)
    lines = ["nn.Sequential("]
    before = [i.resolved.in_shape for i in parallel]
    for children in zip(*(i.items for i in parallel)):
        first, *rest = _expression(group, list(children), f"{path}.{children[0].attr}")
        lines += [INDENT + first, *(INDENT + line for line in rest)]
        after = [child.resolved.out_shape for child in children]
        lines[-1] = _commented(lines[-1] + ",", group, after, before)
        before = after
    return [*lines, ")"]


def _forward(group: Group) -> list[str]:
    """The block's graph as straight-line code. The running value (`x` in a sequential block, `out`
    in any other) flows through each node that reads it; a module read only by a join as a later
    input is written inside the join (`out + self.downsample(x)`); any other value gets a variable
    named after its node (an Inception branch). Each op writes its own join (`OPS[op].python`)."""
    graph: BlockGraph = group.first.resolved.node.payload
    columns = {column[0].attr: column for column in zip(*(block.children for block in group.blocks))}
    readers: dict[str, list[tuple[Node, int]]] = {}
    for node in graph.nodes:
        for position, name in enumerate(node.inputs):
            readers.setdefault(name, []).append((node, position))
    reads = consumers(graph)
    variable = "x" if graph.sequential else "out"
    texts = {INPUT: "x"}
    current, before = INPUT, [block.resolved.in_shape for block in group.blocks]
    lines: list[str] = []
    for number, node in enumerate(graph.nodes, start=1):
        op = OPS[node.op]
        arguments = [texts[name] for name in node.inputs]
        if op.makes_module and getattr(columns[node.name][0], "callee", None) == BARE:
            expression = f"{_get(node.name)} * {arguments[0]}"  # CNBlock's `self.layer_scale * x`
            after = [item.resolved.out_shape for item in columns[node.name]]
        elif op.makes_module:
            expression = f"{_get(node.name)}({arguments[0]})"
            after = [item.resolved.out_shape for item in columns[node.name]]
        elif node.op == "concat" and node.name == graph.output:
            return [*lines, *_concatenation(group, node, arguments, columns)]
        else:
            expression, after = op.python(node, arguments), before
        mine = readers.get(node.name, [])
        reader = OPS[mine[0][0].op] if len(mine) == 1 else None
        if op.makes_module and reader and mine[0][1] > 0 and not reader.makes_module and reader.python_chains:
            texts[node.name] = expression  # read once, by a join, not as its running input
            continue
        runs_on = node.inputs[0] == current and (current == INPUT or reads[current] == 1)
        if runs_on and (node.name == graph.output or all(OPS[r.op].python_chains and p == 0 for r, p in mine)):
            shortcut = shortcut_kind(group.first.resolved.node) if node.op == "add" else None
            line = f"{variable} = {expression}"
            lines.append(f"{line}  # {shortcut} shortcut" if shortcut else _commented(line, group, after, before))
            texts[node.name], current, before = variable, node.name, after
        else:
            name = _variable(node.name, number)
            lines.append(_commented(f"{name} = {expression}", group, after, None))
            texts[node.name] = name
    return [*lines, f"return {texts[graph.output]}"]


def _concatenation(group: Group, node: Node, arguments: list[str], columns: dict) -> list[str]:
    """`return torch.cat([...], dim=1)`, its channels the sum of its inputs' where they are modules."""
    widths = [group.shape_text([c.resolved.out_shape for c in columns[name]]) if name in columns else None
              for name in node.inputs]
    total = None  # the concatenation's channels: the sum of the branches'
    if all(widths):
        total = "(" + " + ".join(w.split(" x ")[1] for w in widths if w) + ")"
        total = total if len(total) <= 50 else f"(the {len(widths)} branches' channels)"
    joined = f"return torch.cat([{', '.join(arguments)}], dim=1)"
    if len(joined) + 8 > WIDTH - 30:
        joined = f"return torch.cat(\n{INDENT}[{', '.join(arguments)}],\n{INDENT}dim=1,\n)"
    first, *rest = joined.split("\n")
    return [_commented(first, group, [b.resolved.out_shape for b in group.blocks], None, total), *rest]


def _commented(code: str, group: Group, after: list, before: list | None,
               channels: str | None = None) -> str:
    """`code  # N x 128 x 28 x 28` where the shape changes (always, with `before` None)."""
    if after == before:
        return code
    text = group.shape_text(after, channels)
    return f"{code}  # {text}" if text else code


def _is_attribute(name: str) -> bool:
    """A name that can follow `self.` as it is: not a keyword, and not `__name`, which Python
    rewrites to `_Class__name` inside a class (so the state_dict key would change)."""
    mangled = name.startswith("__") and not name.endswith("__")
    return name.isidentifier() and not keyword.iskeyword(name) and not mangled


def _get(attr: str) -> str:
    return f"self.{attr}" if _is_attribute(attr) else f'getattr(self, "{attr}")'


def _variable(attr: str, number: int) -> str:
    good = _is_attribute(attr) and attr not in {"x", "out", "self", "torch", "nn"}
    return attr if good else f"branch{number}"


def _annotation(values: tuple[object, ...]) -> str:
    kinds = {type(value) for value in values}
    return f": {kinds.pop().__name__}" if len(kinds) == 1 and kinds <= {int, float, bool, str} else ""


def _docstring(text: str, indent: str) -> list[str]:
    """A docstring's lines for any text (a spec's description is any string): wrapped, every line
    break of the text a line, every other character that is not printable written as its escape
    (`\\x00` reads as those four characters), so that the source holds printable text only."""
    visible = ["".join(c if c.isprintable() or c == "\t" else repr(c)[1:-1] for c in paragraph)
               for paragraph in text.splitlines() or [""]]
    lines = [_in_docstring(line) for paragraph in visible
             for line in (textwrap.wrap(paragraph, WIDTH - 4 - len(indent), break_on_hyphens=False) or [""])]
    if len(lines) == 1 and len(lines[0]) + len(indent) + 6 <= WIDTH:
        return [f'{indent}"""{lines[0]}"""']
    return [f'{indent}"""{lines[0]}', *[(indent + line).rstrip() for line in lines[1:]], f'{indent}"""']


def _in_docstring(line: str) -> str:
    """A line as it reads inside a triple-quoted string: backslashes doubled, no `\"\"\"`, and no quote
    at the end, where it would run into the closing quotes."""
    body = line.replace("\\", "\\\\")
    quotes = len(body) - len(body.rstrip('"'))
    return body.rstrip('"').replace('"""', '\\"\\"\\"') + '\\"' * quotes


def _docstring_of(group: Group) -> str:
    node = group.first.resolved.node
    graph: BlockGraph = node.payload
    output = next((n for n in graph.nodes if n.name == graph.output), None)
    kind = shortcut_kind(node)
    if kind is not None:
        summary = f"`{node.kind}` block " + ("without a shortcut" if kind == "none" else
                                             f"with a{'n' if kind == 'identity' else ''} {kind} shortcut")
    elif output is not None and output.op == "concat":
        summary = f"`{node.kind}` block: {len(output.inputs)} branches concatenated on channels"
    elif node.kind == "stage":
        return f"The stage `{node.name}`: its blocks and layers in order."
    elif group.in_stage:
        summary = f"`{node.kind}` block"
    else:
        summary = f"`{node.kind}`, a sequence of layers"
    uses = [block.resolved.qualname for block in group.blocks]
    where = ", ".join(uses) if len(uses) <= 3 else f"{uses[0]}, {uses[1]}, ..., {uses[-1]}: {len(uses)} uses"
    return f"{summary} ({where})."


def _module_docstring(report: Report, top_class: str, weights_file: str | None) -> str:
    loading = (f'model.load_state_dict(torch.load("{weights_file}"))' if weights_file else
               "model.load_state_dict(state_dict)  # e.g. archspec.compile(spec).state_dict()")
    return "\n".join([
        f'"""{report.spec.name}: standalone PyTorch source generated by `archspec export`.',
        "",
        "It needs only torch. Its parameter names are those of the module archspec compiles from the",
        "spec, so that module's weights load with strict=True:",
        "",
        f"{INDENT}model = {top_class}()",
        f"{INDENT}{loading}",
        '"""',
    ])


def _top_docstring(report: Report) -> str:
    spec = report.spec
    shapes = (f"Input N x {' x '.join(map(str, report.input_shape))}, output N x "
              f"{' x '.join(map(str, report.output_shape or ()))}")
    lines = [spec.description or spec.name, "",
             f"{shapes}; {report.params:,} parameters, {report.macs:,} multiply-accumulates per image."]
    if report.input_range:
        lines.append(f"Accepts inputs {report.input_range.describe()}.")
    return "\n".join(lines)
