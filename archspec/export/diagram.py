"""`--format dot` and the model of every diagram: the network as groups of boxes, top to bottom.

A diagram is read from the static report alone (no torch): the stem's layers, each stage with its
blocks, the head's layers. A block box names its kind, its main path's layers and its shortcut
(identity, projection, zero-pad or none); every edge carries the output shape of the box above it.
Consecutive blocks that are alike (same layers, same shortcut, same shapes) share one box marked
"x 3", so ResNet-152 stays readable. svg.py draws the same model.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from archspec.check import Report
from archspec.graph import INPUT, Node, Resolved, walk
from archspec.nesting import CONTAINER_KIND
from archspec.shapes import Shape, show


@dataclass(frozen=True)
class Box:
    name: str  # "conv1", "layer2.0", "layer3.1-5" for alike blocks
    what: str  # "basic", "inception (4 branches, concatenated)", "conv 7x7/2, 64"
    lines: tuple[str, ...]  # what is inside: layers, branches
    in_shape: Shape
    out_shape: Shape
    shortcut: str | None = None  # identity, projection, zero-pad or none; None: not a residual block
    shortcut_detail: str = ""  # "conv 1x1/2, 128 + batchnorm"
    count: int = 1
    first_name: str = ""  # for merged alike blocks, the first one's name ("layer3.1")

    @property
    def title(self) -> str:
        what = f"{self.count} × {self.what}" if self.count > 1 else self.what
        return what if what == self.name else f"{self.name}  {what}"


@dataclass(frozen=True)
class Group:
    name: str  # "stem", a stage's name, "head"
    boxes: tuple[Box, ...]
    is_stage: bool


@dataclass(frozen=True)
class Diagram:
    title: str
    subtitle: str
    input_shape: Shape
    groups: tuple[Group, ...]


def diagram(report: Report) -> Diagram:
    groups: list[Group] = []
    loose: list[Box] = []  # top-level layers since the last stage
    seen_stage = False
    for top in _unnested(report.resolved):
        if top.kind != "stage":
            _add_layer(loose, top)
            continue
        if loose:
            groups.append(Group("stem" if not seen_stage else "layers", tuple(loose), False))
            loose = []
        seen_stage = True
        groups.append(Group(top.qualname, tuple(_merge_alike([_box(child) for child in top.children])),
                            True))
    if loose:
        groups.append(Group("head" if seen_stage else "layers", tuple(loose), False))
    spec = report.spec
    macs = (f"{report.macs / 1e9:.2f} G" if report.macs >= 1e9 else f"{report.macs / 1e6:.1f} M"
            if report.macs >= 1e5 else f"{report.macs:,}")  # a small network's 20,736 is not "0.0 M"
    subtitle = f"{report.params:,} parameters, {macs} multiply-accumulates at {show(report.input_shape)}"
    return Diagram(spec.name, subtitle, report.input_shape, tuple(groups))


def _unnested(resolved: tuple[Resolved, ...]) -> Iterator[Resolved]:
    """The top-level nodes with the containers of dotted names (`conv1.0`) opened: the diagram draws
    their layers and stages as if written without dots, named by their full names."""
    for top in resolved:
        if top.kind == CONTAINER_KIND and top.node.op == "block":
            yield from _unnested(top.children)
        else:
            yield top


def layer_text(node: Node) -> str:
    """'conv 7x7/2, 64', 'maxpool 3x3/2', 'linear 1000': a layer as a person would write it (its kind says)."""
    return node.payload.describe()


def _quiet(node: Node) -> bool:
    return node.op == "layer" and node.payload.quiet_in_diagram


def dot(report: Report) -> str:
    """Graphviz DOT text of the diagram (render it with `dot -Tsvg`)."""
    model = diagram(report)
    title = _quote(model.title + "\n" + model.subtitle)
    # The input's and output's node IDs hold parentheses, which no module name can: a layer named
    # `input` or `output` is a box of its own, not the oval's.
    source, sink = _quote("(input)"), _quote("(output)")
    lines = [f"digraph {_quote(model.title)} {{",
             f'  graph [rankdir=TB, labelloc=t, fontname="monospace", label={title}];',
             '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="monospace"];',
             '  edge [fontname="monospace", fontsize=10];',
             f'  {source} [shape=oval, label={_quote("input " + show(model.input_shape))}];']
    previous = source
    for number, group in enumerate(model.groups):
        lines.append(f"  subgraph {_quote(f'cluster_{number}')} {{")
        lines.append(f'    label={_quote(group.name)}; style="rounded,filled"; '
                     f'fillcolor="{"#eef3fb" if group.is_stage else "#f3f3f3"}"; color="#b0b8c4";')
        for box in group.boxes:
            label = "\n".join([box.title, *box.lines,
                               *([f"shortcut: {box.shortcut}" + (f" ({box.shortcut_detail})"
                                                                 if box.shortcut_detail else "")]
                                 if box.shortcut else [])])
            lines.append(f"    {_quote(box.name)} [label={_quote(label)}];")
        lines.append("  }")
        for box in group.boxes:
            lines.append(f"  {previous} -> {_quote(box.name)} [label={_quote(show(box.in_shape))}];")
            previous = _quote(box.name)
    lines.append(f'  {sink} [shape=oval, label={_quote("output")}];')
    last = model.groups[-1].boxes[-1].out_shape if model.groups else model.input_shape
    lines.append(f"  {previous} -> {sink} [label={_quote(show(last))}];")
    return "\n".join([*lines, "}"]) + "\n"


def _add_layer(boxes: list[Box], resolved: Resolved) -> None:
    """A top-level layer: its own box, or, for a BatchNorm, ReLU, flatten..., a note in the box above."""
    text = layer_text(resolved.node)
    if boxes and _quiet(resolved.node):
        last = boxes[-1]
        lines = (f"{last.lines[0]}, {text}",) if last.lines else (f"then {text}",)
        boxes[-1] = replace(last, lines=lines, out_shape=resolved.out_shape)
    else:
        boxes.append(Box(resolved.qualname, text, (), resolved.in_shape, resolved.out_shape))


def _box(resolved: Resolved) -> Box:
    """One block (or a layer placed among a stage's blocks), read from its graph: a residual block
    shows its main path and its shortcut, a concatenation its branches, anything else its layers."""
    node = resolved.node
    if node.op == "layer":
        return Box(resolved.qualname, layer_text(node), (), resolved.in_shape, resolved.out_shape)
    graph = node.payload
    output = next((n for n in graph.nodes if n.name == graph.output), None)
    if graph.shortcut is not None:
        adds = [n for n in graph.nodes if n.op == "add"]
        branch = adds[0].inputs[1] if adds and adds[0].inputs[1] != INPUT else None
        shortcut = next((r for r in resolved.children if r.node.name == branch), None)
        main = tuple(r for r in resolved.children if r is not shortcut)
        detail = " + ".join(layer_text(r.node) for _, r in walk(shortcut)
                            if r.node.op == "layer") if shortcut else ""
        return Box(resolved.qualname, node.kind, _chain(main), resolved.in_shape, resolved.out_shape,
                   graph.shortcut, detail)
    if output is not None and output.op == "concat":
        branches = {r.node.name: r for r in resolved.children}
        lines = tuple(f"{name}: {' → '.join(_chain(branches[name].children)) or 'identity'}"
                      if name in branches else f"{name}: identity" for name in output.inputs)
        return Box(resolved.qualname, f"{node.kind} ({len(lines)} branches, concatenated)", lines,
                   resolved.in_shape, resolved.out_shape)
    return Box(resolved.qualname, node.kind, (" → ".join(_chain(resolved.children)),),
               resolved.in_shape, resolved.out_shape)


def _chain(children: tuple[Resolved, ...]) -> tuple[str, ...]:
    """The main layers in order, repeats folded: ('conv 3x3, 256 x3', 'maxpool 2x2/2')."""
    texts = [layer_text(r.node) for top in children for _, r in walk(top)
             if r.node.op == "layer" and not _quiet(r.node)]
    folded: list[tuple[str, int]] = []
    for text in texts:
        if folded and folded[-1][0] == text:
            folded[-1] = (text, folded[-1][1] + 1)
        else:
            folded.append((text, 1))
    return tuple(text if count == 1 else f"{count} × {text}" for text, count in folded)


def _merge_alike(boxes: list[Box]) -> list[Box]:
    merged: list[Box] = []
    for box in boxes:
        last = merged[-1] if merged else None
        if (last is not None and last.in_shape == last.out_shape == box.in_shape == box.out_shape
                and replace(last, name=box.name, count=1, first_name="") == box):
            # The first block's name is kept, not cut out of the merged one: copy names may hold a `-`
            # themselves (regnet's `block3-1`), and then `..` separates the two ends.
            first, final = last.first_name or last.name, box.name.rsplit(".", 1)[-1]
            separator = ".." if "-" in first.rsplit(".", 1)[-1] + final else "-"
            merged[-1] = replace(box, name=f"{first}{separator}{final}", count=last.count + 1, first_name=first)
        else:
            merged.append(box)
    return merged


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
