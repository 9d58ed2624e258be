"""Block kinds written in YAML: the `blocks:` section of a spec, imported files, and the library.

A definition is data: its `fields` (with defaults) and its `nodes`, each a layer, a join (`op: add`,
`mul`, `concat`, `slice`), a nested block or a `shortcut`, reading the node before it unless `from`
says otherwise. Values may be `${...}` expressions over the fields, `width`, `stride` and `in`; they
are evaluated when a stage uses the block (archspec/blocks/defined.py), never here, and never by
`eval`. This module validates a definition's structure (keys, kinds, names, `from`, dead nodes,
cycles between kinds) and makes, per definition, the stage model a spec's stages validate against.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from archspec.blocks.base import BLOCKS, BlockStage
from archspec.errors import SpecPath, did_you_mean
from archspec.expr import ExprError, has_expression, references
from archspec.layers import LAYERS
from archspec.requirements import MAX_REQUIREMENTS, condition_of, requirement_problems

KIND_KEYS = ("layer", "op", "block", "shortcut")  # the key that says what a node is
NODE_KEYS = ("name", "from", "when", "else")  # keys every node may have
JOIN_OPS = ("add", "mul", "concat", "slice")
SHORTCUT_CHOICES = ("stage", "A", "B", "C", "D", "identity", "none")
# Names an expression in a definition reads besides the block's fields: they cannot be field names.
ENVIRONMENT_NAMES = ("width", "stride", "in", "index")
# A stage's own keys are reserved too: a stage using the kind could never give such a field
# (`blocks:` would make it a list stage).
RESERVED_FIELDS = frozenset({*ENVIRONMENT_NAMES, "input", "repeats", "shortcut", "name", "block", "blocks",
                             "copy_names", "layer", "op", "from", "when", "else", "description", "fields",
                             "nodes", "output", "requires"})
MAX_NODES = 1_000
MAX_NESTING = 16  # blocks inside blocks inside blocks: a definition graph is acyclic, this bounds depth
INPUT = "input"

FieldName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
KindName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
FieldValue = bool | int | float | Annotated[str, Field(max_length=200)]


def refuse(errors: list[tuple[SpecPath, str, str | None]], title: str = "BlockDefinition") -> None:
    """Raises the errors as one ValidationError whose locations pydantic prefixes with the place of the
    model being validated; validate.py shows the message and hint as written (type `archspec`)."""
    if errors:
        raise ValidationError.from_exception_data(title, [
            {"type": PydanticCustomError("archspec", "{message}", {"message": message, "hint": hint}),
             "loc": loc, "input": None} for loc, message, hint in errors])


class NodeDefinition(BaseModel):
    """One node of a definition. Its kind key (`layer`, `op`, `block`, `shortcut`) says what it is;
    the other keys are that kind's settings, checked here by name and when the block is used by value."""

    model_config = ConfigDict(frozen=True, extra="allow", serialize_by_alias=True)

    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    inputs: Annotated[str, Field(max_length=200)] | tuple[Annotated[str, Field(max_length=200)], ...] | None = \
        Field(None, alias="from", description="the node(s) this node reads; default: the node before it")
    when: bool | Annotated[str, Field(max_length=200)] | None = Field(
        None, description="an expression: where false, the node is left out and readers of it read `else`")
    otherwise: Annotated[str, Field(max_length=200)] | None = Field(
        None, alias="else", description="what readers of a left-out node read (default: its first input)")
    layer: str | None = None
    op: Literal["add", "mul", "concat", "slice"] | None = None
    block: str | None = None
    shortcut: Literal["stage", "A", "B", "C", "D", "identity", "none"] | None = None

    @property
    def kind_key(self) -> str:
        return next(key for key in KIND_KEYS if getattr(self, key) is not None)

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    @property
    def reads(self) -> tuple[str, ...] | None:
        return (self.inputs,) if isinstance(self.inputs, str) else self.inputs

    @model_validator(mode="after")
    def _one_kind(self) -> NodeDefinition:
        # Only what makes the node a node here: its settings are checked by the definition
        # (`node_problems`), so that a misspelt key does not hide the definition's `from` and names.
        kinds = [key for key in KIND_KEYS if getattr(self, key) is not None]
        if len(kinds) != 1:
            found = " and ".join(f"`{key}`" for key in kinds) if kinds else "none of them"
            refuse([((), f"expected exactly one of `layer`, `op`, `block` or `shortcut`, found {found}",
                     ("a node is a layer ({layer: conv, ...}), a join ({op: add, from: [a, b]}), a block "
                     "({block: squeeze_excite}) or a shortcut ({shortcut: stage, from: input})"))])
        return self


def node_problems(node: NodeDefinition) -> list[tuple[SpecPath, str, str | None]]:
    """A node's settings that do not fit its kind, by name (their values are checked at a use): an
    unknown layer kind or key, a join with the wrong number of inputs, a value that is no plain one."""
    kind, settings = node.kind_key, node.settings
    errors: list[tuple[SpecPath, str, str | None]] = []
    allowed: tuple[str, ...] | None = None
    if kind == "layer":
        if is_expression(node.layer):
            pass  # a kind chosen by a field (`layer: "${activation}"`): its keys are checked at use
        elif node.layer not in LAYERS:
            errors.append((("layer",), (f"unknown layer kind `{node.layer}`; expected one of: "
                           f"{', '.join(LAYERS.names())}"), did_you_mean(node.layer, LAYERS.names())))
        else:
            allowed = tuple(key for key in LAYERS[str(node.layer)].model_fields if key not in ("layer", "name"))
    elif kind == "op":
        allowed = ("start", "stop") if node.op == "slice" else ()
        needed, count = {"mul": 2, "slice": 1}.get(str(node.op)), 1 if node.reads is None else len(node.reads)
        at_from: SpecPath = ("from",) if node.reads is not None else ()  # the default: the node before
        if needed is not None and count != needed:
            errors.append((at_from, (f"the `{node.op}` op takes "
                           f"{'two inputs' if needed == 2 else 'one input'}, found {count}"),
                           "write `from: [a, b]`" if needed == 2 else "write `from: NODE` (one name)"))
        elif needed is None and count < 2:  # one input is that input: surely a forgotten other one
            errors.append((at_from, f"the `{node.op}` op joins two or more inputs, found {count}",
                           f"write `from: [a, b]` (the nodes to {node.op})"))
        if node.op == "slice" and "stop" not in settings:
            errors.append(((), ("a slice needs `stop` (and may give `start`, default 0): the channels "
                           "start:stop of its input"), "write {op: slice, start: 0, stop: \"${in // 2}\"}"))
    elif kind == "shortcut":
        allowed = ("width", "stride")
    for key, value in settings.items():
        if allowed is not None and key not in allowed:
            what = f"a `{getattr(node, kind)}` {kind}" if kind != "op" else f"the `{node.op}` op"
            errors.append(((key,), f"unknown key `{key}` for {what}",
                           did_you_mean(key, allowed) or (f"allowed keys: {', '.join((*NODE_KEYS, *allowed))}")))
        elif not _plain(value):
            errors.append(((key,), ("expected a number, true/false, a string or `${...}`, or a list of "
                           "numbers"), None))
    return errors


def _plain(value: object) -> bool:
    if isinstance(value, (bool, int, float, str)):
        return True
    return isinstance(value, list) and len(value) <= 4 and all(isinstance(v, (int, float, str)) for v in value)


class BlockDefinition(BaseModel):
    """A block kind written in YAML."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    description: Annotated[str, Field(max_length=500)] = Field("", description="one line: what the block is")
    fields: dict[FieldName, FieldValue] = Field(
        default_factory=dict, max_length=64,
        description="the block's own fields and their defaults (a default may be a `${...}` expression)")
    nodes: Annotated[tuple[NodeDefinition, ...], Field(min_length=1, max_length=MAX_NODES)]
    output: Annotated[str, Field(max_length=200)] | None = Field(None, description="default: the last node")
    requires: tuple[Annotated[str, Field(max_length=500)], ...] = Field(
        default=(), max_length=MAX_REQUIREMENTS,
        description="conditions every use must meet, `${...}` comparisons over the fields, width, stride, "
        "in, index: e.g. `${reduction >= 1}` (archspec/requirements.py)")

    @model_validator(mode="after")
    def _names_and_reads(self) -> BlockDefinition:
        errors: list[tuple[SpecPath, str, str | None]] = []
        for field in self.fields:
            if field in RESERVED_FIELDS:
                errors.append((("fields", field), (f"`{field}` cannot be a field name: archspec gives it "
                               "its meaning"), f"rename it, e.g. `{field}_`"))
        errors += requirement_problems(self.requires, [*self.fields, *ENVIRONMENT_NAMES])
        errors += _later_field_problems(self.fields)
        names = node_names(self)
        seen: dict[str, int] = {}
        reads: set[str] = set()
        for index, (node, name) in enumerate(zip(self.nodes, names)):
            errors += [(("nodes", index, *where), message, hint) for where, message, hint in node_problems(node)]
            if name == INPUT:
                errors.append((("nodes", index, "name"), ("`input` names the block's input; a node cannot "
                               "be called so"), "choose another name"))
            elif name in seen:
                errors.append((("nodes", index, "name"), (f"node name `{name}` is used twice (also nodes"
                               f"[{seen[name]}])"), f"rename one, e.g. `{name}_{index}`"))
            for read in (node.reads or ((names[index - 1] if index else INPUT),)):
                if read != INPUT and read not in seen:
                    later = read in names[index:]
                    errors.append((("nodes", index, "from"), f"`{read}` is not an earlier node of this block"
                                   + (" (nodes run in order: it comes later)" if later else ""),
                                   did_you_mean(read, [INPUT, *seen]) or f"earlier nodes: {', '.join([INPUT, *seen])}"))
                reads.add(read)
            errors += _when_problems(node, index)
            if node.otherwise is not None:
                reads.add(node.otherwise)
                if node.otherwise != INPUT and node.otherwise not in seen:
                    errors.append((("nodes", index, "else"), f"`{node.otherwise}` is not an earlier node",
                                   did_you_mean(node.otherwise, [INPUT, *seen])))
            seen.setdefault(name, index)
        output = self.output if self.output is not None else names[-1]
        if output not in seen:
            errors.append((("output",), f"`{output}` is not a node of this block",
                           did_you_mean(output, list(seen)) or f"nodes: {', '.join(seen)}"))
        reads.add(output)
        # A read that names no node was surely meant for one of them: "never read" would only echo it.
        misread = any(read != INPUT and read not in seen for read in reads)
        for index, name in enumerate(names):
            if name not in reads and seen.get(name) == index and not misread:
                errors.append((("nodes", index), (f"node `{name}`'s output is never read: nothing after it "
                               "reads it and it is not the block's output"),
                               "read it with `from:` in a later node, or remove it"))
        refuse(errors)
        return self


def _later_field_problems(fields: Mapping[str, Any]) -> list[tuple[SpecPath, str, str | None]]:
    """A default that reads its own field or one written after it: fields are evaluated in order, so
    at a use it failed as an `unknown name`, though the name is a field."""
    names = list(fields)
    problems: list[tuple[SpecPath, str, str | None]] = []
    for index, (name, default) in enumerate(fields.items()):
        if not is_expression(default):
            continue
        for read in sorted(references(default) & set(names[index:]), key=names.index):
            problems.append((("fields", name), f"`{default}` reads `{read}`, "
                             + ("this field itself" if read == name else "a field written after it")
                             + " (a default reads the fields before it)",
                             f"give `{name}` a number" if read == name else f"write `{read}` before `{name}`"))
    return problems


def _when_problems(node: NodeDefinition, index: int) -> list[tuple[SpecPath, str, str | None]]:
    """A `when` that is text but not one `${...}` condition (`when: "false"` is a string, which kept
    the node), and an `else` without a `when` (it would never be read)."""
    try:
        text = isinstance(node.when, str) and (condition_of(node.when) is None or node.when != node.when.strip())
    except ExprError:  # a malformed `${...}`: said where the block is used, with its place in the text
        text = False
    if text:
        return [(("nodes", index, "when"), f"expected true, false or one `${{...}}` condition, found {node.when!r}",
                 'write e.g. `when: "${stride > 1}"`, or `when: false` (unquoted)')]
    if node.otherwise is not None and node.when is None:
        return [(("nodes", index, "else"), "`else` is read only where `when` is false, and this node has no `when`",
                 'add e.g. `when: "${stride > 1}"`, or remove `else`')]
    return []


def reads_index(definition: BlockDefinition) -> bool:
    """Whether an expression of the definition reads the copy's `index` (its copies then differ)."""
    values = [value for node in definition.nodes
              for value in (node.name, node.when, node.layer, *node.settings.values())]
    values += [*definition.fields.values(), *definition.requires]
    return any("index" in references(value) for value in values if is_expression(value))


def node_names(definition: BlockDefinition) -> list[str]:
    """Every node's name: its own, or one a reader expects that collides with none: the layer's
    default name (conv, bn, relu; numbered conv1, conv2 where a block has several), the op's, `se`
    for a nested block's kind `squeeze_excite` is not guessed: a nested block is named by its kind."""
    written = {node.name for node in definition.nodes if node.name is not None}
    bases = [None if node.name is not None else _base_name(node) for node in definition.nodes]
    counts: dict[str, int] = {}
    for base in bases:
        if base is not None:
            counts[base] = counts.get(base, 0) + 1
    numbered: dict[str, int] = {}
    names = []
    for node, base in zip(definition.nodes, bases):
        if base is None:
            names.append(str(node.name))
            continue
        always = node.layer in LAYERS and LAYERS[node.layer].always_numbered
        if counts[base] == 1 and not always and base not in written:
            names.append(base)
            continue
        number = numbered.get(base, 0) + 1
        while f"{base}{number}" in written:
            number += 1
        numbered[base] = number
        names.append(f"{base}{number}")
    return names


def _base_name(node: NodeDefinition) -> str:
    if node.layer is not None:
        return LAYERS[node.layer].default_name if node.layer in LAYERS else str(node.layer)
    if node.op is not None:
        return node.op
    if node.shortcut is not None:
        return "downsample"
    return str(node.block)


class BlockDefinitions(BaseModel):
    """A file of definitions: an imported file, or one of the library's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    blocks: dict[KindName, BlockDefinition] = Field(max_length=256)
    imports: tuple[str, ...] = ()


# ---- the kinds a spec can use ----

# The defined kinds visible while a spec validates (its own `blocks`, over the library's): set by the
# spec's `blocks` validator, read by its stages' (archspec/spec.py), reset when the spec is done.
VISIBLE: ContextVar[Mapping[str, type[BlockStage]] | None] = ContextVar("archspec_visible_kinds", default=None)
# The kinds of the spec validated last, kept after it: its error messages (validate.py) look them up.
LAST_DEFINED: ContextVar[Mapping[str, type[BlockStage]] | None] = ContextVar("archspec_last_kinds", default=None)


def find_kind(kind: object) -> type[BlockStage] | None:
    """The model of block kind `kind` for the spec being validated: a Python kind (built in, or
    registered with `archspec.register_block`), one of the spec's own definitions, or the library's."""
    if not isinstance(kind, str):
        return None
    if kind in BLOCKS:
        return BLOCKS[kind]
    visible = VISIBLE.get()
    if visible is not None and kind in visible:
        return visible[kind]
    from archspec.library import library_kinds

    return library_kinds().get(kind)


def known_kinds() -> list[str]:
    """Every kind a stage may name now, built-in first (for error messages)."""
    from archspec.library import library_kinds

    visible = VISIBLE.get() or {}
    return list(dict.fromkeys([*BLOCKS.names(), *visible, *library_kinds()]))


def check_kind_set(definitions: Mapping[str, BlockDefinition], outside: Mapping[str, object],
                   prefix: SpecPath = ()) -> list[tuple[SpecPath, str, str | None]]:
    """Across a set of definitions: names not taken by Python kinds, nested kinds that exist with
    fields they have, and no kind that uses itself (directly or through others). `outside` holds
    the kinds visible besides these (the library's)."""
    errors: list[tuple[SpecPath, str, str | None]] = []
    for kind in definitions:
        if kind in BLOCKS:
            errors.append(((*prefix, kind), (f"`{kind}` is a built-in block kind; a definition cannot "
                           "replace it"), f"name yours e.g. `my_{kind}`"))
    every = [*BLOCKS.names(), *definitions, *outside]
    for kind, definition in definitions.items():
        for index, node in enumerate(definition.nodes):
            if node.block is None:
                continue
            where = (*prefix, kind, "nodes", index)
            if node.block not in every:
                errors.append(((*where, "block"), (f"unknown block kind `{node.block}`; expected one of: "
                               f"{', '.join(dict.fromkeys(every))}"), did_you_mean(node.block, every)))
                continue
            fields = nested_fields(node.block, definitions, outside)
            for key in node.settings:
                if key not in fields:
                    errors.append(((*where, key), f"unknown key `{key}` for a `{node.block}` block",
                                   did_you_mean(key, fields) or f"its keys: {', '.join(fields)}"))
    errors += _cycles(definitions, prefix)
    return errors


def nested_fields(kind: str, definitions: Mapping[str, BlockDefinition], outside: Mapping[str, object]
                  ) -> list[str]:
    """The keys a node using block `kind` inside a definition may give: width, stride, its fields."""
    if kind in BLOCKS:
        model = BLOCKS[kind]
        return [key for key in model.model_fields if key not in ("block", "name", "repeats")]
    definition = definitions.get(kind)
    if definition is None:
        model = outside.get(kind)
        definition = getattr(model, "definition", None)
    return ["width", "stride", *(definition.fields if definition is not None else ())]


def _cycles(definitions: Mapping[str, BlockDefinition], prefix: SpecPath) -> list[tuple[SpecPath, str, str | None]]:
    uses = {kind: [(index, node.block) for index, node in enumerate(d.nodes) if node.block in definitions]
            for kind, d in definitions.items()}
    errors: list[tuple[SpecPath, str, str | None]] = []
    state: dict[str, int] = {}  # 1: on the path being walked, 2: done

    def walk(kind: str, path: list[str]) -> None:
        state[kind] = 1
        for index, used in uses[kind]:
            if state.get(used) == 1:
                cycle = " -> ".join([*path[path.index(used):], used])
                errors.append(((*prefix, kind, "nodes", index, "block"), f"block `{used}` uses itself: {cycle}",
                               "a block cannot contain itself; use another kind here"))
            elif state.get(used) is None:
                walk(used, [*path, used])
        state[kind] = 2

    for kind in definitions:
        if state.get(kind) is None:
            walk(kind, [kind])
    return errors


def depth_of(kind: str, definitions: Mapping[str, BlockDefinition], outside: Mapping[str, object],
             seen: frozenset[str] = frozenset()) -> int:
    """How deeply blocks nest inside `kind` (a cycle counts as too deep)."""
    definition = definitions.get(kind) or getattr(outside.get(kind), "definition", None)
    if definition is None:
        return 0
    if kind in seen or len(seen) > MAX_NESTING:
        return MAX_NESTING + 1
    return 1 + max((depth_of(node.block, definitions, outside, seen | {kind})
                    for node in definition.nodes if node.block is not None), default=0)


def is_expression(value: object) -> bool:
    return isinstance(value, str) and has_expression(value)
