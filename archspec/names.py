"""Module names: the name every stem, stage, head and list-stage layer gets in the compiled network,
and the rules a name must keep so that the network PyTorch builds is the one the report describes.

Two modules of one parent under one name would make PyTorch keep only the second (a different
network from the table); a name that is an attribute of the parent container (`forward`, `training`,
`append`) makes `add_module` fail. The check refuses both, at the `name:` the user can change. Pure
Python: the attribute names are listed here, and tests/test_names.py holds the list to torch's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from archspec.blocks.base import BlockStage
from archspec.errors import SpecPath, format_path
from archspec.layers import LayerBase
from archspec.spec import ListStage, Spec

Problem = tuple[SpecPath, str, str | None]

# Every attribute of a `torch.nn.Sequential` instance but Python's own `__dunder__` names (reserved by
# rule, below): the compiled network and every list stage are Sequentials, so `add_module` refuses
# these. From `dir(torch.nn.Sequential())` under torch 2.14; tests/test_names.py fails, naming what
# to add, if the installed torch has one more.
SEQUENTIAL_ATTRIBUTES = frozenset({
    "T_destination", "_apply", "_backward_hooks", "_backward_pre_hooks", "_buffers", "_call_impl",
    "_compiled_call_impl", "_forward_hooks", "_forward_hooks_always_called", "_forward_hooks_with_kwargs",
    "_forward_pre_hooks", "_forward_pre_hooks_with_kwargs", "_get_backward_hooks",
    "_get_backward_pre_hooks", "_get_item_by_idx", "_get_name", "_is_full_backward_hook",
    "_load_from_state_dict", "_load_state_dict_post_hooks", "_load_state_dict_pre_hooks",
    "_maybe_warn_non_full_backward_hook", "_modules", "_named_members", "_non_persistent_buffers_set",
    "_parameters", "_register_load_state_dict_pre_hook", "_register_state_dict_hook",
    "_replicate_for_data_parallel", "_save_to_state_dict", "_slow_forward", "_state_dict_hooks",
    "_state_dict_pre_hooks", "_version", "_wrapped_call_impl", "add_module", "append", "apply",
    "bfloat16", "buffers", "call_super_init", "children", "compile", "cpu", "cuda", "double",
    "dump_patches", "eval", "extend", "extra_repr", "float", "forward", "get_buffer", "get_extra_state",
    "get_parameter", "get_submodule", "half", "insert", "ipu", "load_state_dict", "modules", "mtia",
    "named_buffers", "named_children", "named_modules", "named_parameters", "parameters", "pop",
    "register_backward_hook", "register_buffer", "register_forward_hook", "register_forward_pre_hook",
    "register_full_backward_hook", "register_full_backward_pre_hook", "register_load_state_dict_post_hook",
    "register_load_state_dict_pre_hook", "register_module", "register_parameter",
    "register_state_dict_post_hook", "register_state_dict_pre_hook", "requires_grad_", "set_extra_state",
    "set_submodule", "share_memory", "state_dict", "to", "to_empty", "train", "training", "type", "xpu",
    "zero_grad",
})

# The attributes `archspec.modules.Network` adds to a Sequential (the test holds this list to the class).
NETWORK_ATTRIBUTES = frozenset({"spec_name"})
# The attributes `archspec.modules.GraphBlock` (a block that is not a chain) sets besides its modules.
GRAPH_BLOCK_ATTRIBUTES = frozenset({"block_kind", "steps", "output"})

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")  # as archspec.layers.Identifier
_MAX_LENGTH = 64


def reserved_because(name: str, top_level: bool) -> str | None:
    """Why `name` cannot name a module of the network (`top_level`) or of a list stage; None if it can."""
    if name.startswith("__") and name.endswith("__"):
        return "Python reserves `__dunder__` names for attributes of every object"
    if name in SEQUENTIAL_ATTRIBUTES:
        return "it is an attribute of PyTorch's nn.Sequential, which holds this module"
    if top_level and name in NETWORK_ATTRIBUTES:
        return "it is an attribute of archspec's compiled network"
    return None


class _Slot(NamedTuple):  # a NamedTuple, not a frozen dataclass: 5x faster to make, and every check makes them
    """One module of a parent: its name, the spec entry it comes from, and whether `name:` is written."""

    name: str
    entry: SpecPath
    written: bool

    @property
    def where(self) -> str:
        return format_path(self.entry) + ("" if self.written else " (its default name)")

    @property
    def at(self) -> SpecPath:
        return (*self.entry, "name") if self.written else self.entry


@dataclass(frozen=True)
class ModuleNames:
    layers: tuple[str, ...]  # the stem's layers', then the head's
    stages: tuple[str, ...]
    problems: tuple[Problem, ...]  # every clash and reserved name, in every parent
    nested: bool = False  # some name is dotted (`conv1.0`): the check nests those modules


def module_names(spec: Spec) -> ModuleNames:
    """The top-level module names (explicit or torchvision's defaults) and every problem with the
    names of the network's modules and of every list stage's."""
    if any(isinstance(stage, ListStage) for stage in spec.stages):
        return _module_names(spec)
    # Without list stages the names read only the layers' kinds and names and the stages' names:
    # remembered by those, as a design space's samples repeat them (`archspec sample`).
    key = (tuple((type(layer), layer.name) for layer in spec.stem),
           tuple((type(layer), layer.name) for layer in spec.head), tuple(stage.name for stage in spec.stages))
    found = _TOP_LEVEL_NAMES.get(key)
    if found is None:
        if len(_TOP_LEVEL_NAMES) >= 1024:
            _TOP_LEVEL_NAMES.clear()
        found = _TOP_LEVEL_NAMES[key] = _module_names(spec)
    return found


_TOP_LEVEL_NAMES: dict[object, ModuleNames] = {}


def _module_names(spec: Spec) -> ModuleNames:
    places = layer_places(spec)
    layers = (*spec.stem, *spec.head)
    layer_names = _default_layer_names(layers)
    stage_names = [stage.name or f"layer{i + 1}" for i, stage in enumerate(spec.stages)]
    slots = [_Slot(name, place, layer.name is not None) for name, layer, place in zip(layer_names, layers, places)]
    stage_slots = [_Slot(name, ("stages", i), stage.name is not None)
                   for i, (name, stage) in enumerate(zip(stage_names, spec.stages))]
    problems = _problems([*slots[:len(spec.stem)], *stage_slots, *slots[len(spec.stem):]], top_level=True)
    for i, stage in enumerate(spec.stages):
        if isinstance(stage, ListStage):  # unnamed entries are named by index, which no `name:` can be
            problems += _problems(_list_stage_slots(i, stage), top_level=False)
            problems += [_ignored_block_name(i, j, entry) for j, entry in enumerate(stage.blocks)
                         if not isinstance(entry, LayerBase) and entry.name is not None and entry.copies() > 1]
    written = [*layer_names, *stage_names, *(entry.name for stage in spec.stages if isinstance(stage, ListStage)
                                              for entry in stage.blocks if entry.name is not None)]
    return ModuleNames(tuple(layer_names), tuple(stage_names), tuple(problems),
                       any("." in name for name in written))


def _list_stage_slots(stage_index: int, stage: ListStage) -> list[_Slot]:
    """The names a list stage's entries give their modules where the spec writes them: a layer's or
    a one-copy block's `name:`, and the names a block's `copy_names` makes."""
    slots = []
    for j, entry in enumerate(stage.blocks):
        where = ("stages", stage_index, "blocks", j)
        if entry.name is not None and (isinstance(entry, LayerBase) or entry.copies() == 1):
            slots.append(_Slot(entry.name, where, True))
        elif not isinstance(entry, LayerBase) and entry.copy_names is not None:
            slots += [_Slot(entry.copy_name(copy, ""), (*where, "copy_names"), False)
                      for copy in range(entry.copies())]
    return slots


def _ignored_block_name(stage: int, index: int, entry: BlockStage) -> Problem:
    """A `name:` names one module: a list-stage entry that makes several copies cannot take one."""
    message = (f"a `name:` names one module, but this entry makes {entry.copies()} blocks "
               f"(repeats: {entry.repeats})")
    hint = (f"name the copies with `copy_names: {entry.name}{{index}}`, or write the block as a stage of its "
            f"own, where `name:` names the stage: `{{block: {entry.block}, name: {entry.name}, ...}}`")
    return ("stages", stage, "blocks", index, "name"), message, hint


def layer_places(spec: Spec) -> list[SpecPath]:
    """Where the stem's and the head's layers are written, in the order of `ModuleNames.layers`."""
    return [("stem", i) for i in range(len(spec.stem))] + [("head", i) for i in range(len(spec.head))]


def _default_layer_names(layers: Sequence[LayerBase]) -> list[str]:
    """Explicit names, else torchvision-style defaults: conv1, bn1, relu, maxpool, avgpool, fc."""
    counts: dict[str, int] = {}
    for layer in layers:
        if layer.name is None:
            counts[layer.default_name] = counts.get(layer.default_name, 0) + 1
    seen: dict[str, int] = {}
    names = []
    for layer in layers:
        if layer.name is not None:
            names.append(layer.name)
            continue
        base = layer.default_name
        seen[base] = seen.get(base, 0) + 1
        numbered = layer.always_numbered or counts[base] > 1
        names.append(f"{base}{seen[base]}" if numbered else base)
    return names


def sibling_problems(names: Sequence[tuple[str, SpecPath, bool]], top_level: bool = False) -> list[Problem]:
    """The name rules for any parent's modules (e.g. a block's nodes): `(name, where its entry is
    written, whether `name:` is written there)` for each; dotted names checked at every level."""
    return _problems([_Slot(name, entry, written) for name, entry, written in names], top_level)


def _problems(slots: list[_Slot], top_level: bool, depth: int = 0) -> list[Problem]:
    """Reserved names, and every module that repeats a sibling's name: reported at the written
    `name:` (the user's to change), the other place named, with a name that is free. A dotted name
    (`conv1.0`) is module `0` of a container `conv1`: the slots are checked at every level of that
    tree, from their name's component `depth` on, the containers below the top level being
    nn.Sequentials."""
    if depth == 0 and _plainly_distinct(slots, top_level):
        return []  # the common case, without the walk below (which would find nothing)
    taken = {slot.name.split(".")[depth] for slot in slots}
    problems: list[Problem] = []
    first: dict[str, _Slot] = {}
    members: dict[str, list[_Slot]] = {}  # a container's slots, by the container's name
    for slot in sorted(slots, key=lambda slot: slot.written):  # a default name keeps its place
        parts = slot.name.split(".")
        component, inside = parts[depth], len(parts) > depth + 1
        reason = reserved_because(component, top_level)
        earlier = first.get(component)
        if reason is not None:
            free = _renamed(parts, depth, free_name(component, taken, top_level))
            shown = f"`{component}` in `{slot.name}`" if len(parts) > 1 else f"`{component}`"
            problems.append((slot.at, f"module name {shown} is reserved: {reason}",
                             f"use another name, e.g. `name: {free}`"))
        elif earlier is not None and not (inside and component in members):
            free = _renamed(parts, depth, free_name(component, taken, top_level))
            other = (f"the container of `{earlier.name}` ({format_path(earlier.entry)})"
                     if component in members else f"the name of {earlier.where}")
            shown = f"`{component}` (in `{slot.name}`)" if len(parts) > 1 else f"`{component}`"
            problems.append((slot.at, f"module name {shown} is also {other}",
                             f"two modules of one parent need different names: use e.g. `name: {free}`"))
        else:
            first.setdefault(component, slot)
            if inside:
                members.setdefault(component, []).append(slot)
    for container in members.values():
        problems += _problems(container, top_level=False, depth=depth + 1)
    return problems


def _plainly_distinct(slots: list[_Slot], top_level: bool) -> bool:
    """No name dotted, none reserved, none repeated: `_problems` has nothing to say."""
    names = {slot.name for slot in slots}
    return (len(names) == len(slots) and not any("." in name for name in names)
            and not any(reserved_because(name, top_level) for name in names))


def _renamed(parts: list[str], depth: int, component: str) -> str:
    return ".".join([*parts[:depth], component, *parts[depth + 1:]])


def free_name(name: str, taken: set[str], top_level: bool) -> str:
    """`name_2`, `name_3`, ... (for a number, the next free number): the first that is a valid name,
    unused and not reserved. Marks it taken, so that two clashes are never offered the same name."""
    if name.isdigit():
        number = next(number for number in range(len(taken) + 1) if str(number) not in taken)
        taken.add(str(number))
        return str(number)
    for number in range(2, 10_000):
        suffix = f"_{number}"
        candidate = name[:_MAX_LENGTH - len(suffix)] + suffix
        if (candidate not in taken and _IDENTIFIER.match(candidate)
                and reserved_because(candidate, top_level) is None):
            taken.add(candidate)
            return candidate
    raise AssertionError("unreachable: fewer than 10,000 modules share a parent")
