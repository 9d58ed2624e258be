"""Verification pass: run a real forward pass and compare every module's output shape and every
parameter count with the static report. Used by `compile --check-shapes` and by the tests."""

from __future__ import annotations

import torch
from torch import nn

from archspec.check import Report
from archspec.graph import walk


def observed_shapes(network: nn.Module, input_shape: tuple[int, ...], batch: int = 2
                    ) -> dict[str, tuple[int, ...]]:
    """Output shape (without the batch dimension) of every named module on a zero input."""
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = [module.register_forward_hook(
        lambda _m, _i, out, name=name: shapes.__setitem__(name, tuple(out.shape[1:])))
        for name, module in network.named_modules() if name]
    was_training = network.training
    network.eval()  # BatchNorm in eval mode works for any batch and spatial size
    try:
        with torch.no_grad():
            network(torch.zeros(batch, *input_shape))
    finally:
        network.train(was_training)
        for hook in hooks:
            hook.remove()
    return shapes


def verify_against_forward(report: Report, network: nn.Module) -> list[str]:
    """Every disagreement between the static report and PyTorch; empty when they agree."""
    shapes = observed_shapes(network, report.input_shape)
    named = dict(network.named_modules())
    bare = dict(network.named_parameters())  # a block's bare parameter (ConvNeXt's layer_scale)
    problems = []
    for top in report.resolved:
        for _, resolved in walk(top):
            real = shapes.get(resolved.qualname)
            # A bare parameter is a factor, not a module: no hook sees its product, only its size.
            if real != resolved.out_shape and resolved.qualname not in bare:
                problems.append(f"{resolved.qualname}: static {resolved.out_shape}, real {real}")
            module = named.get(resolved.qualname)
            params = (sum(p.numel() for p in module.parameters()) if module is not None else
                      bare[resolved.qualname].numel() if resolved.qualname in bare else None)
            if params != resolved.params:
                problems.append(f"{resolved.qualname}: static {resolved.params} parameters, real {params}")
    return problems
