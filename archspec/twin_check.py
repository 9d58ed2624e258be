"""The check's first tier: a network's figures from its layers' static rules and its blocks' static
twins (`BlockStage.facts`), without making a node.

`twin_figures` adds up the output shape, parameters, MACs and memory (buffers included) of a spec as
the graph would, stem layer by stem layer, stage by stage (each stage a Sequential of its entries'
copies), head layer by head layer, folding the peaks along dotted module names as nested Sequentials hold their
inputs. It declines (None) wherever anything might be wrong; `archspec.check` then lowers and
evaluates the graph, which says what and where. tests/test_block_twins.py proves the two agree.
"""

from __future__ import annotations

from math import prod

from archspec.blocks.base import BlockFacts, BlockStage, Shortcut
from archspec.budget import BYTES_PER_VALUE, Moment, layer_moment, sequence_peak
from archspec.figures_memo import GroupFacts, copy_facts, group_facts
from archspec.layers import LayerBase
from archspec.names import module_names
from archspec.nesting import Tree, chain_tree
from archspec.shapes import Facts, Shape, ShapeProblem
from archspec.spec import ListStage, Spec


def twin_figures(spec: Spec, x: Shape, max_memory: int | None) -> tuple[Facts, int] | None:
    """The happy path: the network's figures from its layers' static rules and its blocks' static
    twins, without lowering a block. None as soon as anything might be wrong (a layer's rule
    refuses, a twin declines, a name repeats, the budget is exceeded): the full check then lowers
    and evaluates the graph, which says what and where. Equal to the graph's figures by test."""
    names = module_names(spec)
    if names.problems:
        return None
    # Dotted names (`conv1.0`) nest the top-level modules into nn.Sequentials, which hold their input
    # while their members run: the peaks fold along that tree, and a stage's along its children's.
    tree = (chain_tree([*names.layers[:len(spec.stem)], *names.stages, *names.layers[len(spec.stem):]])
            if names.nested else None)
    if names.nested and tree is None:
        return None
    shape, params, macs, buffers = x, 0, 0, 0
    top: list[Moment] = []  # the peaks of the network's top-level modules: stem layers, stages, head layers
    inputs: list[int] = []  # their input values
    stages = [(stage.blocks, True) if isinstance(stage, ListStage) else ((stage,), False) for stage in spec.stages]
    try:
        for entries, in_list in (*(((layer,), False) for layer in spec.stem), *stages,
                                 *(((layer,), False) for layer in spec.head)):
            # A stage's children's names and inputs matter only where a name is dotted
            # (`denseblock1.denselayer1`: nested in the stage); else its figures are a function of
            # its entries, input and shortcut default, remembered across samples (figures_memo).
            if any(_may_name_dotted(entry, in_list) for entry in entries):
                found = _group_figures(entries, shape, spec.shortcut, in_list, dotted=True)
            else:
                found = group_facts(entries, shape, spec.shortcut, _group_figures)
            if found is None:
                return None
            inputs.append(prod(shape))
            shape, group_params, group_macs, group_peak, group_buffers = found
            params, macs, buffers = params + group_params, macs + group_macs, buffers + group_buffers
            top.append(Moment(group_peak))
    except ShapeProblem:
        return None
    # A network of no modules still holds its input, as every network does (`estimate_memory` too).
    peak = sequence_peak(prod(x), top if tree is None else _folded(tree, top, inputs)).values
    memory = BYTES_PER_VALUE * (params + peak) + buffers
    if max_memory is not None and memory > max_memory:
        return None
    return (shape, params, macs), memory


def _group_figures(entries: tuple[LayerBase | BlockStage, ...], x: Shape, default_shortcut: Shortcut,
                   in_list: bool = False, dotted: bool = False) -> GroupFacts | None:
    """One stem or head layer's, or one stage's entries' (output shape, parameters, MACs, peak as a
    Sequential of them, buffer bytes) from the layers' rules and the blocks' twins; None where a twin declines.
    `dotted`: some child's name is dotted (`in_list`: in a list stage), and the peak folds along the
    tree of the names; else the figures read only the entries, the input and the shortcut default."""
    shape, params, macs, buffers = x, 0, 0, 0
    group: list[Moment] = []  # the entries' peaks, in order
    children: list[str] = []  # where dotted: the children's names
    child_inputs: list[int] = []  # and their input values
    for entry in entries:
        if isinstance(entry, LayerBase):
            out, layer_params, layer_macs = entry.infer(shape)
            if dotted:
                children.append(child_name(entry, 0, len(children), in_list))
                child_inputs.append(prod(shape))
            group.append(layer_moment(entry, shape, out))
            buffers += entry.buffer_bytes(shape)
            shape, params, macs = out, params + layer_params, macs + layer_macs
            continue
        shortcut = entry.shortcut or default_shortcut
        alike: dict[object, tuple[Shape, BlockFacts]] = {}  # as in _lower_stage
        copies, copy = entry.copies(), 0
        while copy < copies:
            key = entry.alike_key(copy)
            known = alike.get(key) if key is not None else None
            facts = (known[1] if known is not None and known[0] == shape
                     else copy_facts(entry, copy, shape, shortcut))
            if facts is None:
                return None
            if key is not None:
                alike[key] = (shape, facts)
            out, block_params, block_macs, block_peak, block_buffers = facts
            # This copy and the later ones alike to it, with the shape it keeps: equal figures.
            same = entry.alike_run(copy, key) if not dotted and key is not None and out == shape else 1
            if dotted:
                children.append(child_name(entry, copy, len(children), in_list))
                child_inputs.append(prod(shape))
            shape, params, macs = out, params + same * block_params, macs + same * block_macs
            buffers += same * block_buffers
            # Equal moments in a row: after the second, none can raise the sequence's peak.
            group += [Moment(block_peak)] * min(same, 2)
            copy += same
    if dotted and any("." in child for child in children):
        stage_tree = chain_tree(children)
        if stage_tree is None:
            return None
        group = _folded(stage_tree, group, child_inputs)
    return shape, params, macs, sequence_peak(prod(x), group).values, buffers  # a stage: a Sequential of its entries


def _folded(tree: Tree, peaks: list[Moment], inputs: list[int]) -> list[Moment]:
    """The peaks of a chain's modules with each container's members folded into its peak: a
    Sequential of them, on its first member's input (as `graph_peak` evaluates the nested graph)."""
    folded = []
    for item in tree:
        if isinstance(item, int):
            folded.append(peaks[item])
        else:
            first = item[0]
            while not isinstance(first, int):
                first = first[0]
            folded.append(sequence_peak(inputs[first], _folded(item, peaks, inputs)))
    return folded


def _may_name_dotted(entry: LayerBase | BlockStage, in_list: bool) -> bool:
    """Whether `child_name` may give one of `entry`'s copies a dotted name."""
    if isinstance(entry, LayerBase):
        return "." in (entry.name or "")
    return (in_list and "." in (entry.name or "")) or "." in (entry.copy_names or "")


def child_name(entry: LayerBase | BlockStage, copy: int, position: int, in_list: bool) -> str:
    """The module name of copy `copy` of a stage's `entry`, the stage's child number `position`: a
    layer's `name:`, a list stage's one-copy block's `name:`, else the block's `copy_names`, else
    the position."""
    if isinstance(entry, LayerBase):
        return entry.name or str(position)
    if in_list and entry.name is not None and entry.copies() == 1:
        return entry.name  # a list stage's one-copy block, named as written
    return entry.copy_name(copy, str(position))
