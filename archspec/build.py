"""Build pass: a checked `Report` -> a real `nn.Module`, node for node.

Every module is made from the node's statically resolved input shape, so the channel counts and
`in_features` the checker inferred are exactly the ones the module gets.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import torch
from torch import nn

from archspec import modules
from archspec.check import Report
from archspec.errors import SpecError
from archspec.graph import INPUT, OPS, BlockGraph, Resolved
from archspec.ops import inplace_only_where_safe


def build_module(report: Report) -> modules.Network:
    if not report.ok:
        raise SpecError(report.errors)
    top_level = [(r.node.name, _module(r)) for r in report.resolved]
    nodes = report.nodes
    inplace_only_where_safe(BlockGraph("network", nodes, nodes[-1].name if nodes else INPUT, True), top_level)
    network = modules.Network(report.spec.name, top_level)
    initialise = _INITS[report.spec.init]
    if initialise is not None:
        initialise(network)
    return network


def _module(resolved: Resolved) -> nn.Module:
    """A node's module, children first: the node's op makes it (the one dispatch point, `OPS`)."""
    built = [(child.node.name, _module(child)) for child in resolved.children]
    return OPS[resolved.node.op].build(modules, resolved, built)


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


def _norms_one_zero(module: nn.Module) -> bool:
    """BatchNorm (and GroupNorm) weight 1 and bias 0, as every torchvision family below sets them."""
    if isinstance(module, (nn.BatchNorm2d, nn.BatchNorm1d, nn.GroupNorm)):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
        return True
    return False


def _densenet_init(network: nn.Module) -> None:
    """torchvision's DenseNet: conv kaiming_normal_ (fan_in), linear bias 0 (its weight as drawn)."""
    for module in network.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight)
        elif not _norms_one_zero(module) and isinstance(module, nn.Linear):
            nn.init.constant_(module.bias, 0)


def _efficientnet_init(network: nn.Module) -> None:
    """torchvision's EfficientNet: conv kaiming_normal_ fan_out with bias 0, linear uniform(+-1/sqrt(out))."""
    for module in network.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif not _norms_one_zero(module) and isinstance(module, nn.Linear):
            bound = 1.0 / math.sqrt(module.out_features)
            nn.init.uniform_(module.weight, -bound, bound)
            nn.init.zeros_(module.bias)


def _convnext_init(network: nn.Module) -> None:
    """torchvision's ConvNeXt: conv and linear (pointwise ones included) trunc_normal_(std 0.02), bias 0."""
    for module in network.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.trunc_normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


def _regnet_init(network: nn.Module) -> None:
    """torchvision's RegNet: conv normal(0, sqrt(2 / fan_out)) (its bias as drawn), linear normal(0, 0.01)."""
    for module in network.modules():
        if isinstance(module, nn.Conv2d):
            fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
            nn.init.normal_(module.weight, mean=0.0, std=math.sqrt(2.0 / fan_out))
        elif not _norms_one_zero(module) and isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.01)
            nn.init.zeros_(module.bias)


def _squeezenet_init(network: nn.Module) -> None:
    """torchvision's SqueezeNet: conv kaiming_uniform_, but the classifier's conv normal(0, 0.01); conv bias 0.
    torchvision names its classifier conv (`final_conv`); a spec has no such name, so the classifier conv is
    the network's last Conv2d in module order (the order modules are made in, stem to head)."""
    convolutions = [module for module in network.modules() if isinstance(module, nn.Conv2d)]
    for convolution in convolutions:
        if convolution is convolutions[-1]:
            nn.init.normal_(convolution.weight, mean=0.0, std=0.01)
        else:
            nn.init.kaiming_uniform_(convolution.weight)
        if convolution.bias is not None:
            nn.init.constant_(convolution.bias, 0)


# The names `init:` takes (archspec/spec.py's `Init`); MobileNet v2 and v3 initialise as VGG does.
_INITS: dict[str, Callable[[nn.Module], None] | None] = {
    "pytorch": None, "kaiming": _kaiming_init, "vgg": _vgg_init, "googlenet": _googlenet_init,
    "mobilenet": _vgg_init, "densenet": _densenet_init, "efficientnet": _efficientnet_init,
    "convnext": _convnext_init, "regnet": _regnet_init, "squeezenet": _squeezenet_init}


def _state_dict(source: object) -> dict[str, torch.Tensor]:
    """`source` as a state_dict, or a TypeError saying what it is instead (a count of its entries would
    call a checkpoint of this very network another architecture)."""
    if not isinstance(source, Mapping):
        raise TypeError(f"expected a torch module or a state_dict (a mapping of names to tensors), found "
                        f"{type(source).__name__}; for a file, pass torch.load(path, weights_only=True)")
    from archspec.train.checkpoint import FORMAT

    if isinstance(source.get("model"), Mapping) and source.get("format") == FORMAT:
        raise TypeError("this is an `archspec train` checkpoint: its state_dict is checkpoint['model'], "
                        "whose names are the compiled network's (network.load_state_dict loads it)")
    others = [name for name, value in source.items() if not isinstance(value, torch.Tensor)]
    if others:
        raise TypeError(f"expected a state_dict (a mapping of names to tensors), but {len(others)} entries are "
                        f"not tensors: {', '.join(map(str, others[:3]))}{', ...' if len(others) > 3 else ''}")
    return dict(source)


def load_torchvision_weights(network: nn.Module,
                             source: nn.Module | Mapping[str, torch.Tensor]) -> nn.Module:
    """Copy the weights of a torchvision model (or any state_dict) into a compiled network.

    Tensors are matched by position, since archspec's parameter order equals torchvision's for the
    same network; names may differ (a VGG's `features.0` is archspec's `layer1.0.conv1`). Every pair
    must have the same shape, else nothing is copied and the error names the first pair that differs.
    """
    theirs = source.state_dict() if isinstance(source, nn.Module) else _state_dict(source)
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
