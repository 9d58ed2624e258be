"""He et al. 2015's own networks, checked against reference implementations that do not use archspec:

- the CIFAR-10 ResNets (sec. 4.2: 6n+2 layers, option A shortcuts), written out below in plain torch
  the way the paper describes them;
- Plain-18/34 (sec. 4.1), which are torchvision's resnet18/34 with every shortcut removed.

For each: the parameter count the paper/issue gives, the same state_dict layout, the same outputs with
the same weights, and the same MACs as torch's FlopCounterMode measures on the reference.
"""

from __future__ import annotations

import types
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torch_checks import assert_same_outputs, counted_macs, randomise_batchnorm

import archspec
from conftest import SPECS

# Depth -> (n blocks per stage, parameter count). The counts are those of issue 2; the paper's table 6
# rounds them to 0.27M, 0.46M, 0.66M, 0.85M and 1.7M.
CIFAR = {20: (3, 269_722), 32: (5, 464_154), 44: (7, 658_586), 56: (9, 853_018), 110: (18, 1_727_962)}


class ReferenceCifarBlock(nn.Module):
    """Two 3x3 conv-BN layers; option A shortcut: subsample, then zero channels appended at the end."""

    def __init__(self, in_channels: int, channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.stride, self.extra = stride, channels - in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        shortcut = F.pad(x[:, :, :: self.stride, :: self.stride], (0, 0, 0, 0, 0, self.extra))
        return F.relu(out + shortcut)


class ReferenceCifarResNet(nn.Module):
    def __init__(self, n: int, classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        blocks, channels = [], 16
        for width, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(n):
                blocks.append(ReferenceCifarBlock(channels, width, stride if i == 0 else 1))
                channels = width
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.blocks(F.relu(self.bn1(self.conv1(x))))
        return self.fc(out.mean(dim=(2, 3)))


def _compare_with_reference(spec_name: str, build_reference: Callable[[], nn.Module],
                            macs_input: tuple[int, ...], outputs_input: tuple[int, ...], seed: int
                            ) -> tuple[archspec.Report, nn.Module, nn.Module]:
    """The spec's static figures and compiled network against a reference network: the same parameter
    count, the same MACs as FlopCounterMode counts on the reference, the same tensor shapes in the same
    order, and (with the reference's weights loaded) the same outputs."""
    report = archspec.check(SPECS / f"{spec_name}.yaml")
    assert report.ok, report.errors
    torch.manual_seed(seed)
    reference = randomise_batchnorm(build_reference(), seed)
    ours = archspec.compile(report.spec)
    assert report.params == sum(p.numel() for p in reference.parameters())
    assert sum(p.numel() for p in ours.parameters()) == report.params
    assert report.macs == counted_macs(build_reference, macs_input)
    assert [t.shape for t in ours.state_dict().values()] == \
        [t.shape for t in reference.state_dict().values()]
    archspec.load_torchvision_weights(ours, reference)
    assert_same_outputs(ours, reference, outputs_input)
    return report, ours, reference


@pytest.mark.parametrize("depth", sorted(CIFAR))
def test_cifar_resnet_equals_reference(depth: int) -> None:
    n, params = CIFAR[depth]
    report, _, _ = _compare_with_reference(f"resnet{depth}-cifar", lambda: ReferenceCifarResNet(n),
                                           (3, 32, 32), (2, 3, 32, 32), seed=depth)
    assert report.params == params
    assert report.output_shape == (10,)


class LambdaLayer(nn.Module):
    def __init__(self, function: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        self.function = function

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.function(x)


class AkamasterBlock(nn.Module):
    """akamaster/pytorch_resnet_cifar10's BasicBlock (the most used CIFAR ResNet code and weights),
    option A: its shortcut pads planes // 4 zero channels on each side of the subsampled input."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut: nn.Module = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = LambdaLayer(lambda x: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4),
                                                        "constant", 0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class AkamasterResNet(nn.Module):
    def __init__(self, n: int, num_classes: int = 10):
        super().__init__()
        self.in_planes = 16
        self.conv1 = nn.Conv2d(3, 16, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = self._make_layer(16, n, stride=1)
        self.layer2 = self._make_layer(32, n, stride=2)
        self.layer3 = self._make_layer(64, n, stride=2)
        self.linear = nn.Linear(64, num_classes)

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        layers = []
        for block_stride in [stride] + [1] * (blocks - 1):
            layers.append(AkamasterBlock(self.in_planes, planes, block_stride))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.avg_pool2d(out, out.size()[3])
        return self.linear(out.view(out.size(0), -1))


def test_zero_pad_both_equals_akamasters_cifar_resnet() -> None:
    """`zero_pad: both` (and the head's linear named `linear`) gives akamaster's state_dict keys and
    outputs, so its published checkpoints load with load_state_dict; the default `end` does not."""
    text = (SPECS / "resnet20-cifar.yaml").read_text()
    for width in (16, 32, 64):
        text = text.replace(f"{{block: basic, width: {width},", f"{{block: basic, zero_pad: both, width: {width},")
    text = text.replace("- {layer: linear, width: 10}", "- {layer: linear, width: 10, name: linear}")
    torch.manual_seed(20)
    reference = randomise_batchnorm(AkamasterResNet(3), seed=20).eval()
    ours = archspec.compile(text).eval()
    assert list(ours.state_dict()) == list(reference.state_dict())
    ours.load_state_dict(reference.state_dict())
    assert_same_outputs(ours, reference, (2, 3, 32, 32))
    padded_at_the_end = archspec.compile(text.replace("zero_pad: both, ", "")).eval()
    padded_at_the_end.load_state_dict(reference.state_dict())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert (padded_at_the_end(x) - reference(x)).abs().max() > 1e-3


def _plain_block_forward(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """torchvision's BasicBlock.forward without the `out += identity` line."""
    out = block.relu(block.bn1(block.conv1(x)))
    return block.relu(block.bn2(block.conv2(out)))


def _torchvision_plain(depth: int) -> nn.Module:
    """torchvision's resnet18/34 with every shortcut removed: He et al.'s plain baseline."""
    network = getattr(torchvision.models, f"resnet{depth}")()
    for layer in (network.layer1, network.layer2, network.layer3, network.layer4):
        for block in layer:
            block.downsample = None
            block.forward = types.MethodType(_plain_block_forward, block)
    return network


@pytest.mark.parametrize("depth", [18, 34])
def test_plain_network_equals_torchvision_without_shortcuts(depth: int) -> None:
    # MACs at ImageNet's 224x224; outputs compared at 64x64 to keep the forward pass fast
    report, ours, reference = _compare_with_reference(f"plain{depth}", lambda: _torchvision_plain(depth),
                                                      (3, 224, 224), (2, 3, 64, 64), seed=depth)
    assert list(ours.state_dict()) == list(reference.state_dict())  # torchvision's names, no downsample
    assert report.output_shape == (1000,)
    assert report.params == {18: 11_515_688, 34: 21_623_848}[depth]  # torchvision's minus 173,824
