"""Helpers for the tests that compare a compiled network with an independent reference network."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def randomise_batchnorm(network: nn.Module, seed: int) -> nn.Module:
    """Random BatchNorm statistics and affine parameters: PyTorch's defaults (mean 0, var 1, weight 1,
    bias 0) make eval-mode BatchNorm nearly the identity and would hide a misplaced one."""
    generator = torch.Generator().manual_seed(seed)
    for module in network.modules():
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            size = module.num_features
            module.running_mean.copy_(torch.randn(size, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
            with torch.no_grad():
                module.weight.copy_(torch.rand(size, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(size, generator=generator) * 0.1)
    return network


def randomise_normalisation(network: nn.Module, seed: int) -> nn.Module:
    """`randomise_batchnorm`, plus random LayerNorm affine parameters and layer scales (ConvNeXt's
    `layer_scale`, a bare parameter). ConvNeXt's default layer scale, 1e-6, scales every block's branch
    so far down that its output is the stem's and the downsampling layers' within 1e-5: an output
    comparison would not see a misplaced layer inside a block, nor a stochastic depth mask."""
    randomise_batchnorm(network, seed)
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for module in network.modules():
            if isinstance(module, nn.LayerNorm) and module.elementwise_affine:
                module.weight.copy_(torch.rand(module.weight.shape, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.1)
        for name, parameter in network.named_parameters():
            if name.rpartition(".")[2] == "layer_scale":
                parameter.copy_(torch.rand(parameter.shape, generator=generator) * 0.5 + 0.25)
    return network


def counted_macs(build: Callable[[], nn.Module], shape: tuple[int, ...]) -> int:
    """Multiply-adds (FLOPs / 2) of one `shape` input as torch's FlopCounterMode counts them, on the
    meta device: counting needs shapes only, and meta tensors skip the arithmetic (resnet152 at 224x224
    takes a fraction of a second)."""
    with torch.device("meta"):
        network = build()
        with FlopCounterMode(display=False) as counter:
            network(torch.zeros(1, *shape))
    return counter.get_total_flops() // 2


def assert_same_outputs(ours: nn.Module, reference: nn.Module, input_shape: tuple[int, ...]) -> None:
    """Both networks in eval mode give the same output for one random batch."""
    ours.eval()
    reference.eval()
    x = torch.randn(*input_shape, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected, found = reference(x), ours(x)
    assert found.shape == expected.shape
    difference = (found - expected).abs().max().item()
    assert difference <= 1e-4 * max(1.0, expected.abs().max().item()), f"max abs difference {difference}"


def assert_equal_outputs_on(ours: nn.Module, reference: nn.Module, x: torch.Tensor, atol: float = 1e-5) -> None:
    """The same output for `x`, within `atol` (both modules as the caller left them: eval or train)."""
    with torch.no_grad():
        expected, found = reference(x), ours(x)
    assert found.shape == expected.shape
    assert (found - expected).abs().max().item() <= atol


def assert_macs_and_outputs(report, ours: nn.Module, reference: nn.Module, x: torch.Tensor) -> None:
    """`report`'s MACs equal FlopCounterMode's FLOPs / 2 on the reference for one image of `x`, and
    both networks give the same output for `x`."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        reference(x[:1])
    assert report.macs == counter.get_total_flops() // 2
    assert_equal_outputs_on(ours, reference, x)


def assert_loads_strictly_with_equal_outputs(ours: nn.Module, theirs: nn.Module, x: torch.Tensor,
                                             same_order: bool = True) -> None:
    """`theirs`'s state_dict has `ours`'s keys (in the same order where `same_order`), loads with
    strict=True, and then both give the same output for `x`."""
    assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
    if same_order:
        assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict(), strict=True)
    assert_equal_outputs_on(ours, theirs, x)


def compiled_with_weights(report, source: nn.Module) -> nn.Module:  # report: archspec.Report
    """The compiled network of `report` carrying `source`'s tensors, copied by position with
    archspec.load_torchvision_weights (which refuses any tensor whose shape differs), in eval mode.
    Built on the meta device: the copy overwrites every tensor, so initialising them would be wasted
    time (seconds for VGG's 130M parameters)."""
    import archspec
    from archspec.build import build_module

    with torch.device("meta"):
        network = build_module(report)
    return archspec.load_torchvision_weights(network.to_empty(device="cpu"), source).eval()
