"""What lowering a block kind defined in YAML needs of its definition that no use changes, worked out
once per definition (archspec/blocks/defined.py keeps it on the kind's stage model) instead of once
per copy: each node's plan, with the function of each `${...}` value (archspec.expr.interpolation:
the expression parsed and turned into closures once), and the functions of its `requires:`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from archspec.definitions import INPUT, BlockDefinition, NodeDefinition, is_expression, node_names
from archspec.expr import Compiled, ExprError, compiled, interpolation
from archspec.layers import LAYERS, LayerBase
from archspec.requirements import condition_of


class NodePlan(NamedTuple):
    """What lowering needs of one node that no use changes."""

    node: NodeDefinition
    name: str  # the name readers use (node_names)
    shown: str  # how errors and traces name it: its written name, else `name`
    reads: tuple[str, ...]  # what it reads: `from`, else the node before it
    # (key, value, function): the function of a value that holds `${...}` (None for a constant); a list as a tuple
    settings: tuple[tuple[str, Any, Compiled | None], ...]
    layer: str | None  # the layer kind, where written as a known kind (not `${...}`)
    layer_model: type[LayerBase] | None  # that kind's model
    when: Compiled | None  # the value of `when:`, where written
    naming: Compiled | None  # the module name, where `name:` holds `${...}`


def node_plans(definition: BlockDefinition) -> tuple[NodePlan, ...]:
    """Every node's plan, in order."""
    names = node_names(definition)
    plans = []
    for index, (node, name) in enumerate(zip(definition.nodes, names)):
        settings = []
        for key, value in node.settings.items():
            function = value_function(value)
            settings.append((key, tuple(value) if isinstance(value, list) and function is None else value, function))
        plain_layer = node.layer is not None and not is_expression(node.layer) and node.layer in LAYERS
        shown = node.name or name
        when = None if node.when is None else (value_function(node.when) or _constant(node.when))
        plans.append(NodePlan(node, name, shown, node.reads or ((names[index - 1] if index else INPUT),),
                              tuple(settings), node.layer if plain_layer else None,
                              LAYERS[node.layer] if plain_layer else None, when, value_function(shown)))
    return tuple(plans)


def value_function(value: Any) -> Compiled | None:
    """The value of a setting as a function of a use's environment, where it holds `${...}` (a list:
    where an item does); None for a constant. It raises ExprError where the expression fails."""
    if isinstance(value, list):
        if not any(is_expression(item) for item in value):
            return None
        items = tuple(value_function(item) or _constant(item) for item in value)
        return lambda environment: tuple(item(environment) for item in items)  # type: ignore[return-value]
    return interpolation(value) if is_expression(value) else None


def _constant(value: Any) -> Compiled:
    return lambda environment: value  # type: ignore[no-any-return]


def requirement_functions(requires: tuple[str, ...]) -> tuple[Compiled, ...] | None:
    """Each `requires:` entry's condition as a function (None where one does not compile: lowering
    then asks archspec/requirements.py, which says what fails)."""
    functions = []
    for text in requires:
        try:
            condition = condition_of(text)
            if condition is None:
                return None
            functions.append(compiled(condition))
        except ExprError:
            return None
    return tuple(functions)
