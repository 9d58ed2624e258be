"""Strategies for block kinds written in YAML (a spec's `blocks:` section).

`defined_blocks()` draws definitions that are valid for every use, whatever the stage's width,
stride, fields and input: each node's channels are tracked as an expression over `in`, `width` and
the fields (the text a later node writes as its own width), and its height and width as one of three
spaces (the block's input's, after the block's stride, 1x1), so that every join is written between
values that agree at any use. The nodes come in the patterns real blocks are made of: layer chains,
residual additions (identity, the stage's shortcut option, or a projection kept only where the
shape changes, with `when:`), a squeeze-excitation gate (`mul` by a C x 1 x 1 map, written out or
the library's `squeeze_excite`), dense concatenation, a channel split (`slice`) and blocks nested in
blocks. `draw_defined_stage` draws a stage of such a kind with random fields and checks it against the
reference (archspec.testing.reference_defined), which decides the stage's shortcut option.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from archspec.testing.kinds import Draw, Knobs, maybe
from archspec.testing.reference import Refused, Shape, trace

# The fields a drawn definition may have, and the values a stage may give them.
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "ratio": st.integers(1, 2), "reduction": st.integers(1, 4), "growth": st.integers(1, 4),
    "use_norm": st.booleans(), "post_act": st.booleans()}
INPUT_SPACE, STRIDED, POINT = "input", "strided", "1x1"  # a value's height and width
_NAME = re.compile(r"^\w+$")


@dataclass(frozen=True)
class Value:
    name: str  # what a `from` writes to read it
    channels: str  # its channel count at any use, as expression text over in, width and the fields
    space: str  # INPUT_SPACE, STRIDED or POINT


@dataclass(frozen=True)
class KindFacts:
    """What a definition that nests this kind needs to know of it."""

    output: str  # its output channels in its own terms: "width", "in", or "" (anything else)
    strided: bool  # whether its `stride` changes its output's size
    fields: tuple[str, ...]


@dataclass
class Options:
    max_width: int
    max_patterns: int
    fields: tuple[str, ...]
    nested: Mapping[str, KindFacts]  # kinds drawn before this one, which it may nest
    library: bool
    when: bool


def _group(channels: str) -> str:
    return channels if _NAME.match(channels) else f"({channels})"


def _written(channels: str) -> Any:
    return int(channels) if channels.isdigit() else f"${{{channels}}}"


@dataclass
class _Builder:
    """One definition being drawn: its nodes, and the names some `from` reads."""

    draw: Draw
    options: Options
    nodes: list[dict] = field(default_factory=list)
    read: set[str] = field(default_factory=set)

    def put(self, node: dict, sources: list[Value], channels: str, space: str) -> Value:
        name = f"n{len(self.nodes)}"
        previous = self.nodes[-1]["name"] if self.nodes else "input"
        if len(sources) > 1 or sources[0].name != previous or self.draw(st.booleans()):
            node["from"] = [s.name for s in sources] if len(sources) > 1 else sources[0].name
            self.read.update(s.name for s in sources)
        self.nodes.append({"name": name, **node})
        return Value(name, channels, space)

    def short(self, x: Value) -> Value:
        """`x`, or where its channels' expression grew long, a convolution of it to `width` channels:
        every written expression stays well within archspec's bound on expression length."""
        return x if len(x.channels) <= 40 else self.conv(x, "width", stride=False)

    def width_choice(self, source: Value) -> str:
        constant = str(self.draw(st.integers(1, self.options.max_width)))
        choices = ["width", "in", constant, *([source.channels] if len(source.channels) <= 40 else [])]
        fields = self.options.fields
        choices += [c for f, c in (("ratio", "width * ratio"), ("reduction", "max(in // reduction, 1)"),
                                   ("growth", "growth")) if f in fields]
        return self.draw(st.sampled_from(choices))

    def conv(self, source: Value, channels: str | None = None, stride: bool | None = None) -> Value:
        channels = channels or self.width_choice(source)
        node: dict = {"layer": "conv", "width": _written(channels)}
        kernel = self.draw(st.sampled_from([1, 3]))
        node["kernel"] = kernel
        if kernel == 3:
            node["padding"] = 1
        space = source.space
        if stride is None:
            stride = source.space == INPUT_SPACE and self.draw(st.integers(0, 3)) == 0
        if stride:
            node["stride"], space = "${stride}", STRIDED
        if channels == source.channels and self.draw(st.integers(0, 3)) == 0:
            node["groups"] = "depthwise"
        maybe(self.draw, node, "bias", st.booleans())
        return self.put(node, [source], channels, space)

    def pointwise(self, source: Value) -> Value:
        node = dict(self.draw(st.sampled_from([
            {"layer": "batchnorm"}, {"layer": "relu"}, {"layer": "silu"}, {"layer": "hardswish"},
            {"layer": "maxpool", "kernel": 3, "stride": 1, "padding": 1},
            {"layer": "avgpool", "kernel": 3, "stride": 1, "padding": 1}])))
        if self.options.when and self.draw(st.integers(0, 3)) == 0:
            conditions = [f"${{{f}}}" for f in ("use_norm", "post_act") if f in self.options.fields]
            conditions += ["${width > 4}", "${in != width}"]
            node["when"] = self.draw(st.sampled_from(conditions))
        return self.put(node, [source], source.channels, source.space)

    def chain(self, source: Value) -> Value:
        return self.conv(source) if self.draw(st.booleans()) else self.pointwise(source)

    def residual(self, x: Value) -> Value:
        x = self.short(x)
        side = self.draw(st.sampled_from(["identity", "shortcut", "projection"]))
        if side == "projection" and x.space != INPUT_SPACE:
            side = "shortcut"  # a projection strides: only from the block's input size
        if side == "identity":
            main = self.conv(x, x.channels, stride=False)
            if self.draw(st.booleans()):
                main = self.pointwise(main)
            other = x
        else:
            strided = x.space == INPUT_SPACE and (side == "projection" or self.draw(st.booleans()))
            main = self.conv(x, "width", stride=strided)
            if self.draw(st.booleans()):
                main = self.conv(self.pointwise(main), "width", stride=False)
            if side == "shortcut":
                node: dict = {"shortcut": self.draw(st.sampled_from(["stage", "stage", "B", "C", "D", "none"]))}
                if not strided:
                    node["stride"] = 1
                other = self.put(node, [x], "width", main.space)
            else:  # a projection only where the shape changes; elsewhere readers get `x` itself
                node = {"layer": "conv", "width": "${width}", "kernel": 1, "stride": "${stride}",
                        "when": f"${{stride != 1 or {_group(x.channels)} != width}}"}
                other = self.put(node, [x], "width", STRIDED)
        pair = [main, other] if self.draw(st.booleans()) else [other, main]
        out = self.put({"op": "add"}, pair, main.channels, main.space)
        return self.put({"layer": "relu"}, [out], out.channels, out.space) if self.draw(st.booleans()) else out

    def gate(self, x: Value) -> Value:
        x = self.short(x)
        if self.options.library and self.draw(st.booleans()):
            node: dict = {"block": "squeeze_excite"}
            maybe(self.draw, node, "reduction", st.sampled_from([1, 2, 4]))
            return self.put(node, [x], x.channels, x.space)
        pool = self.put({"layer": "global_avgpool"}, [x], x.channels, POINT)
        squeezed = self.conv(pool, self.draw(st.sampled_from([f"max({_group(x.channels)} // 2, 1)", "width"])))
        squeezed = self.put({"layer": "relu"}, [squeezed], squeezed.channels, POINT)
        gate = self.conv(squeezed, x.channels)
        gate = self.put({"layer": self.draw(st.sampled_from(["sigmoid", "hardsigmoid"]))}, [gate], x.channels, POINT)
        pair = [x, gate] if self.draw(st.booleans()) else [gate, x]
        return self.put({"op": "mul"}, pair, x.channels, x.space)

    def dense(self, x: Value) -> Value:
        x = self.short(x)
        branches = [x, self.conv(x, stride=False)]
        if self.draw(st.booleans()):
            branches[0] = self.conv(x, stride=False)
        order = self.draw(st.permutations(branches))
        return self.put({"op": "concat"}, order, " + ".join(_group(b.channels) for b in order), x.space)

    def split(self, x: Value) -> Value:
        x = self.short(x)
        c = _group(x.channels)
        half = self.put({"op": "slice", "start": 0, "stop": f"${{max({c} // 2, 1)}}"}, [x],
                        f"max({c} // 2, 1)", x.space)
        rest = self.put({"op": "slice", "start": f"${{{c} // 2}}", "stop": f"${{{c}}}"}, [x], f"{c} - {c} // 2",
                        x.space)
        rest = self.conv(rest, rest.channels, stride=False)
        return self.put({"op": "concat"}, [half, rest], f"{_group(half.channels)} + {_group(rest.channels)}",
                        x.space)

    def nest(self, x: Value) -> Value:
        kind = self.draw(st.sampled_from(sorted(self.options.nested)))
        facts = self.options.nested[kind]
        node: dict = {"block": kind}
        channels = x.channels
        if facts.output == "width" and self.draw(st.booleans()):
            channels = self.width_choice(x)
            node["width"] = _written(channels)
        space = x.space
        if facts.strided and x.space == INPUT_SPACE and self.draw(st.booleans()):
            node["stride"], space = "${stride}", STRIDED
        for name in facts.fields:
            if self.draw(st.booleans()):
                node[name] = f"${{{name}}}" if name in self.options.fields else self.draw(FIELD_VALUES[name])
        return self.put(node, [x], channels, space)


PATTERNS = ("chain", "chain", "residual", "gate", "dense", "split", "nest")


def draw_definition(draw: Draw, options: Options) -> tuple[dict, KindFacts]:
    builder = _Builder(draw, options)
    x = Value("input", "in", INPUT_SPACE)
    patterns = [p for p in PATTERNS if p != "nest" or options.nested]
    for _ in range(draw(st.integers(1, options.max_patterns))):
        x = getattr(builder, draw(st.sampled_from(patterns)))(x)
    for node in builder.nodes[:-1]:  # the names no `from` reads: sometimes left to archspec's defaults
        if node["name"] not in builder.read and draw(st.booleans()):
            del node["name"]
    definition: dict = {}
    if draw(st.booleans()):
        definition["description"] = draw(st.sampled_from(["a drawn block", "nodes: layers, joins; more"]))
    if options.fields:
        definition["fields"] = {name: draw(FIELD_VALUES[name]) for name in options.fields}
    definition["nodes"] = builder.nodes
    output = x.channels if x.channels in ("width", "in") else ""
    return definition, KindFacts(output, x.space == STRIDED, options.fields)


@st.composite
def _definitions(draw: Draw, max_kinds: int, max_patterns: int, max_width: int, fields: bool, nesting: bool,
                 library: bool, when: bool) -> dict:
    blocks: dict[str, dict] = {}
    nestable: dict[str, KindFacts] = {}
    for number in range(draw(st.integers(1, max_kinds))):
        chosen = tuple(draw(st.lists(st.sampled_from(sorted(FIELD_VALUES)), unique=True, max_size=3))) \
            if fields else ()
        options = Options(max_width, max_patterns, chosen, dict(nestable) if nesting else {}, library, when)
        kind = f"unit{number}"
        blocks[kind], facts = draw_definition(draw, options)
        if facts.output:
            nestable[kind] = facts
    return blocks


def defined_blocks(*, max_kinds: int = 3, max_patterns: int = 3, max_width: int = 8, fields: bool = True,
                   nesting: bool = True, library: bool = True, when: bool = True) -> st.SearchStrategy[dict]:
    """A spec's `blocks:` section: 1..max_kinds definitions named `unit0`, `unit1`, ..., each valid at
    any use (any width, stride, input and field values).

    - max_patterns: how many patterns (a layer, a residual addition, a gate, a concatenation, a
      channel split, a nested block) each definition chains, at most.
    - max_width: the largest constant width written in a definition.
    - fields: give definitions fields from FIELD_VALUES (`ratio`, `reduction`, `growth`,
      `use_norm`, `post_act`) used in their expressions.
    - nesting: let a definition use the kinds drawn before it as nodes.
    - library: let definitions nest the library's `squeeze_excite`.
    - when: sometimes keep a node only where a condition holds (`when:`).
    """
    return _definitions(max_kinds, max_patterns, max_width, fields, nesting, library, when)


def draw_defined_stage(draw: Draw, x: Shape, knobs: Knobs, kind: str) -> dict | None:
    """A stage of the defined kind `kind` (in knobs.blocks) valid for input `x`; None where none is."""
    definition = knobs.blocks[kind]
    entry: dict = {"block": kind, "width": x[0] if draw(st.integers(0, 2)) == 0 else
                   draw(st.integers(1, knobs.max_width))}
    maybe(draw, entry, "repeats", st.integers(1, knobs.max_repeats))
    maybe(draw, entry, "stride", st.sampled_from([1, 2]))
    maybe(draw, entry, "shortcut", st.sampled_from(knobs.shortcuts))
    for name in definition.get("fields", {}):
        if name in FIELD_VALUES:
            maybe(draw, entry, name, FIELD_VALUES[name])
    document = {"input": {"channels": x[0], "size": list(x[1:])}, "shortcut": knobs.default_shortcut,
                "blocks": knobs.blocks, "stages": [entry]}
    for _ in range(2):
        try:
            trace(document)
            return entry
        except Refused:  # a shortcut option that does not fit here (A narrowing, identity): the default
            if "shortcut" not in entry:
                return None
            del entry["shortcut"]
    return None


__all__ = ["FIELD_VALUES", "KindFacts", "defined_blocks", "draw_defined_stage"]
