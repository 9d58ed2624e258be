"""Build pass: a checked `Report` -> a real `nn.Module`, node for node.

Every module is made from the node's statically resolved input shape, so the channel counts and
`in_features` the checker inferred are exactly the ones the module gets.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping

import torch
from torch import nn

from archspec import modules
from archspec.check import Report
from archspec.errors import SpecError
from archspec.graph import ConcatNode, LayerNode, ResidualNode, Resolved, SequenceNode


def build_module(report: Report) -> modules.Network:
    if not report.ok:
        raise SpecError(report.errors)
    top_level = [(r.node.name, _module(r)) for r in report.resolved]
    network = modules.Network(report.spec.name, _inplace_only_where_safe(report.resolved, top_level))
    initialise = _INITS[report.spec.init]
    if initialise is not None:
        initialise(network)
    return network


# Kinds whose backward does not read their own output, and whose output nothing else reads: an
# in-place activation straight after one of them is safe (torchvision's conv-bn-relu). After anything
# else it must run out of place: after an activation, autograd needs that activation's output; a
# container's input may still be read by a shortcut or a sibling branch (or is the caller's tensor).
_SAFE_BEFORE_INPLACE = frozenset({"conv", "batchnorm", "linear", "maxpool", "avgpool",
                                  "adaptive_avgpool", "global_avgpool", "add"})


def _module(resolved: Resolved) -> nn.Module:
    node = resolved.node
    if isinstance(node, LayerNode):
        return node.layer.build(modules, resolved.in_shape)
    children = [(child.node.name, _module(child)) for child in resolved.children]
    if isinstance(node, SequenceNode):
        return modules.Sequential(OrderedDict(_inplace_only_where_safe(resolved.children, children)))
    if isinstance(node, ConcatNode):
        return modules.Concat(children)
    assert isinstance(node, ResidualNode)
    main_count = len(node.main)
    shortcut = children[main_count][1] if node.shortcut is not None else None
    post_start = main_count + (node.shortcut is not None)
    main = _inplace_only_where_safe(resolved.children[:main_count], children[:main_count])
    post = _inplace_only_where_safe(resolved.children[post_start:], children[post_start:],
                                    after="add" if node.add else node.main[-1].kind if node.main else None)
    return modules.Residual(main, shortcut, post, node.add)


def _inplace_only_where_safe(resolved: tuple[Resolved, ...] | list[Resolved],
                             built: list[tuple[str, nn.Module]], after: str | None = None
                             ) -> list[tuple[str, nn.Module]]:
    """Turns off `inplace` on activations whose input must survive (see _SAFE_BEFORE_INPLACE).
    `after`: the kind that produced the first child's input (None: the container's own input)."""
    previous = after
    for node, (_, module) in zip(resolved, built):
        if getattr(module, "inplace", False) and previous not in _SAFE_BEFORE_INPLACE:
            module.inplace = False
        previous = node.kind
    return built


# torchvision's initialisations, module for module as its constructors write them, so that under
# the same seed a compiled network gets the very weights torchvision's constructor draws.

def _kaiming_init(network: nn.Module) -> None:
    """torchvision's ResNet initialisation."""
    for module in network.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, (nn.BatchNorm2d, nn.BatchNorm1d)):
            nn.init.constant_(module.weight, 1)
            nn.init.constant_(module.bias, 0)


def _vgg_init(network: nn.Module) -> None:
    """torchvision's VGG initialisation (`init_weights=True`, its default)."""
    for module in network.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.constant_(module.bias, 0)
        elif isinstance(module, (nn.BatchNorm2d, nn.BatchNorm1d)):
            nn.init.constant_(module.weight, 1)
            nn.init.constant_(module.bias, 0)
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0, 0.01)
            if module.bias is not None:
                nn.init.constant_(module.bias, 0)


def _googlenet_init(network: nn.Module) -> None:
    """torchvision's GoogLeNet initialisation (`init_weights=True`)."""
    for module in network.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.trunc_normal_(module.weight, mean=0.0, std=0.01, a=-2, b=2)
        elif isinstance(module, (nn.BatchNorm2d, nn.BatchNorm1d)):
            nn.init.constant_(module.weight, 1)
            nn.init.constant_(module.bias, 0)


_INITS: dict[str, Callable[[nn.Module], None] | None] = {
    "pytorch": None, "kaiming": _kaiming_init, "vgg": _vgg_init, "googlenet": _googlenet_init}


def load_torchvision_weights(network: nn.Module,
                             source: nn.Module | Mapping[str, torch.Tensor]) -> nn.Module:
    """Copy the weights of a torchvision model (or any state_dict) into a compiled network.

    Tensors are matched by position, since archspec's parameter order equals torchvision's for the
    same network; names may differ (a VGG's `features.0` is archspec's `layer1.0.conv1`). Every pair
    must have the same shape, else nothing is copied and the error names the first pair that differs.
    """
    theirs = source.state_dict() if isinstance(source, nn.Module) else dict(source)
    ours = network.state_dict()
    if len(ours) != len(theirs):
        raise ValueError(f"the compiled network has {len(ours)} tensors, the source {len(theirs)}: "
                         "they are not the same architecture; check the spec against the model")
    mapped = {}
    for (our_name, our_tensor), (their_name, their_tensor) in zip(ours.items(), theirs.items()):
        if our_tensor.shape != their_tensor.shape:
            raise ValueError(f"tensor {our_name} has shape {tuple(our_tensor.shape)} but the source's "
                             f"tensor at the same position, {their_name}, has {tuple(their_tensor.shape)}")
        mapped[our_name] = their_tensor
    network.load_state_dict(mapped)
    return network
