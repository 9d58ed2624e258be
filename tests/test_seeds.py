"""The seed tutorials' networks (../shared/seeds/) as specs, against the seeds themselves.

Two independent sources per network:
- the shape tables the seeds print (transcribed below as data, batch dimension dropped): the static
  table's rows must equal them row for row, and so must a real forward pass of the compiled module;
- the seeds' code, transcribed in tests/seed_networks.py: same parameter count, same parameter order
  (tensor shapes by position), same outputs once the seed network's weights are copied over, and the
  static MACs equal to what torch's FlopCounterMode counts on the seed's network.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import seed_networks as seeds
import torch
from torch import nn
from torch_checks import assert_same_outputs, compiled_with_weights, counted_macs, randomise_batchnorm

import archspec
from archspec.build import build_module
from archspec.graph import Resolved, walk
from archspec.verify import observed_shapes
from conftest import SPECS

Shape = tuple[int, ...]


@dataclass(frozen=True)
class SeedTable:
    """A shape table a seed prints: (label, shape without the batch) per row."""

    seed: str
    spec: str
    rows: tuple[tuple[str, Shape], ...]
    # Our qualnames for the printed rows; None: the static table's top-level rows, all of them in order.
    ours: tuple[str, ...] | None = None


def _table(seed: str, spec: str, text: str, ours: tuple[str, ...] | None = None) -> SeedTable:
    """Rows from the seed's printout: `Label output shape: torch.Size([1, 6, 28, 28])` per line."""
    rows = []
    for line in text.strip().splitlines():
        label, _, size = line.partition("output shape:")
        dims = size.strip().removeprefix("torch.Size([").removesuffix("])").split(",")
        rows.append((label.strip(), tuple(int(d) for d in dims[1:])))  # drop the batch dimension
    return SeedTable(seed, spec, tuple(rows), ours)


TABLES = [
    _table("002 LeNet", "lenet", """
        Conv2d output shape: torch.Size([1, 6, 28, 28])
        Sigmoid output shape: torch.Size([1, 6, 28, 28])
        AvgPool2d output shape: torch.Size([1, 6, 14, 14])
        Conv2d output shape: torch.Size([1, 16, 10, 10])
        Sigmoid output shape: torch.Size([1, 16, 10, 10])
        AvgPool2d output shape: torch.Size([1, 16, 5, 5])
        Flatten output shape: torch.Size([1, 400])
        Linear output shape: torch.Size([1, 120])
        Sigmoid output shape: torch.Size([1, 120])
        Linear output shape: torch.Size([1, 84])
        Sigmoid output shape: torch.Size([1, 84])
        Linear output shape: torch.Size([1, 10])"""),
    _table("002 LeNet with BatchNorm", "lenet-bn", """
        Conv2d output shape: torch.Size([2, 6, 24, 24])
        BatchNorm2d output shape: torch.Size([2, 6, 24, 24])
        Sigmoid output shape: torch.Size([2, 6, 24, 24])
        AvgPool2d output shape: torch.Size([2, 6, 12, 12])
        Conv2d output shape: torch.Size([2, 16, 8, 8])
        BatchNorm2d output shape: torch.Size([2, 16, 8, 8])
        Sigmoid output shape: torch.Size([2, 16, 8, 8])
        AvgPool2d output shape: torch.Size([2, 16, 4, 4])
        Flatten output shape: torch.Size([2, 256])
        Linear output shape: torch.Size([2, 120])
        BatchNorm1d output shape: torch.Size([2, 120])
        Sigmoid output shape: torch.Size([2, 120])
        Linear output shape: torch.Size([2, 84])
        BatchNorm1d output shape: torch.Size([2, 84])
        Sigmoid output shape: torch.Size([2, 84])
        Linear output shape: torch.Size([2, 10])"""),
    _table("002 AlexNet", "alexnet-d2l", """
        Conv2d output shape: torch.Size([1, 96, 54, 54])
        ReLU output shape: torch.Size([1, 96, 54, 54])
        MaxPool2d output shape: torch.Size([1, 96, 26, 26])
        Conv2d output shape: torch.Size([1, 256, 26, 26])
        ReLU output shape: torch.Size([1, 256, 26, 26])
        MaxPool2d output shape: torch.Size([1, 256, 12, 12])
        Conv2d output shape: torch.Size([1, 384, 12, 12])
        ReLU output shape: torch.Size([1, 384, 12, 12])
        Conv2d output shape: torch.Size([1, 384, 12, 12])
        ReLU output shape: torch.Size([1, 384, 12, 12])
        Conv2d output shape: torch.Size([1, 256, 12, 12])
        ReLU output shape: torch.Size([1, 256, 12, 12])
        MaxPool2d output shape: torch.Size([1, 256, 5, 5])
        Flatten output shape: torch.Size([1, 6400])
        Linear output shape: torch.Size([1, 4096])
        ReLU output shape: torch.Size([1, 4096])
        Dropout output shape: torch.Size([1, 4096])
        Linear output shape: torch.Size([1, 4096])
        ReLU output shape: torch.Size([1, 4096])
        Dropout output shape: torch.Size([1, 4096])
        Linear output shape: torch.Size([1, 10])"""),
    _table("002 VGG-11", "vgg11-d2l", """
        Sequential output shape: torch.Size([1, 64, 112, 112])
        Sequential output shape: torch.Size([1, 128, 56, 56])
        Sequential output shape: torch.Size([1, 256, 28, 28])
        Sequential output shape: torch.Size([1, 512, 14, 14])
        Sequential output shape: torch.Size([1, 512, 7, 7])
        Flatten output shape: torch.Size([1, 25088])
        Linear output shape: torch.Size([1, 4096])
        ReLU output shape: torch.Size([1, 4096])
        Dropout output shape: torch.Size([1, 4096])
        Linear output shape: torch.Size([1, 4096])
        ReLU output shape: torch.Size([1, 4096])
        Dropout output shape: torch.Size([1, 4096])
        Linear output shape: torch.Size([1, 10])"""),
    _table("002 NiN", "nin", """
        Sequential output shape: torch.Size([1, 96, 54, 54])
        MaxPool2d output shape: torch.Size([1, 96, 26, 26])
        Sequential output shape: torch.Size([1, 256, 26, 26])
        MaxPool2d output shape: torch.Size([1, 256, 12, 12])
        Sequential output shape: torch.Size([1, 384, 12, 12])
        MaxPool2d output shape: torch.Size([1, 384, 5, 5])
        Dropout output shape: torch.Size([1, 384, 5, 5])
        Sequential output shape: torch.Size([1, 10, 5, 5])
        AdaptiveAvgPool2d output shape: torch.Size([1, 10, 1, 1])
        Flatten output shape: torch.Size([1, 10])"""),
    _table("002 GoogLeNet", "googlenet-d2l", """
        Sequential output shape: torch.Size([1, 64, 24, 24])
        Sequential output shape: torch.Size([1, 192, 12, 12])
        Sequential output shape: torch.Size([1, 480, 6, 6])
        Sequential output shape: torch.Size([1, 832, 3, 3])
        Sequential output shape: torch.Size([1, 1024])
        Linear output shape: torch.Size([1, 10])"""),
    _table("002 ResNet-18", "resnet18-d2l", """
        Sequential output shape: torch.Size([1, 64, 56, 56])
        Sequential output shape: torch.Size([1, 64, 56, 56])
        Sequential output shape: torch.Size([1, 128, 28, 28])
        Sequential output shape: torch.Size([1, 256, 14, 14])
        Sequential output shape: torch.Size([1, 512, 7, 7])
        AdaptiveAvgPool2d output shape: torch.Size([1, 512, 1, 1])
        Flatten output shape: torch.Size([1, 512])
        Linear output shape: torch.Size([1, 10])"""),
    # Seed 000 prints the same network with the stem's layers one by one, and Flatten + Linear as `fc`.
    _table("000 ResNet-18", "resnet18-d2l", """
        0  output shape:	 torch.Size([1, 64, 112, 112])
        1  output shape:	 torch.Size([1, 64, 112, 112])
        2  output shape:	 torch.Size([1, 64, 112, 112])
        3  output shape:	 torch.Size([1, 64, 56, 56])
        resnet_block1  output shape:	 torch.Size([1, 64, 56, 56])
        resnet_block2  output shape:	 torch.Size([1, 128, 28, 28])
        resnet_block3  output shape:	 torch.Size([1, 256, 14, 14])
        resnet_block4  output shape:	 torch.Size([1, 512, 7, 7])
        global_avg_pool  output shape:	 torch.Size([1, 512, 1, 1])
        fc  output shape:	 torch.Size([1, 10])""",
           ours=("b1.0", "b1.1", "b1.2", "b1.3", "b2", "b3", "b4", "b5", "avgpool", "fc")),
    # Seed 004 writes its shapes as comments in ResNet18.forward (`# 64 * 32 * 32` ...).
    _table("004 ResNet-18 for CIFAR-10", "resnet18-cifar", """
        F.relu(self.bn1(self.conv1(x))) output shape: torch.Size([1, 64, 32, 32])
        self.layer1 output shape: torch.Size([1, 64, 32, 32])
        self.layer2 output shape: torch.Size([1, 128, 16, 16])
        self.layer3 output shape: torch.Size([1, 256, 8, 8])
        self.layer4 output shape: torch.Size([1, 512, 4, 4])
        F.avg_pool2d(out, 4) output shape: torch.Size([1, 512, 1, 1])""",
           ours=("relu", "layer1", "layer2", "layer3", "layer4", "avgpool")),
    # Seed 003 annotates one shape:
    # `self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3)# [64*112*112]`.
    _table("003 ResNet-34", "resnet34-seed003", """
        self.conv1 output shape: torch.Size([1, 64, 112, 112])""", ours=("conv1",)),
]

# The kind of our row for each torch class a seed names in its printout.
CLASS_KINDS = {"Conv2d": {"conv"}, "BatchNorm2d": {"batchnorm"}, "BatchNorm1d": {"batchnorm"},
               "Sigmoid": {"sigmoid"}, "ReLU": {"relu"}, "AvgPool2d": {"avgpool"}, "MaxPool2d": {"maxpool"},
               "AdaptiveAvgPool2d": {"adaptive_avgpool", "global_avgpool"}, "Flatten": {"flatten"},
               "Linear": {"linear"}, "Dropout": {"dropout"},
               "Sequential": {"stage", "vgg", "nin"}}  # the seeds' vgg_block and nin_block are Sequentials

# Spec -> the seed's network whose parameters come in the same order as the compiled module's.
REFERENCES: dict[str, Callable[[], nn.Module]] = {
    "lenet": seeds.lenet, "lenet-bn": seeds.lenet_bn, "alexnet-d2l": seeds.alexnet_d2l,
    "vgg11-d2l": seeds.vgg11_d2l, "nin": seeds.nin, "googlenet-d2l": seeds.googlenet_d2l,
    "resnet18-d2l": seeds.resnet18_seed000, "resnet18-cifar": seeds.ResNet18004,
    "resnet-seed001": seeds.ResNet001, "resnet34-seed003": seeds.ResNet003,
}


def _report(spec: str, input_shape: Shape | None = None) -> archspec.Report:
    report = archspec.check(SPECS / f"{spec}.yaml", input_shape)
    assert report.ok, "\n".join(d.render() for d in report.errors)
    return report


def _our_rows(report: archspec.Report, table: SeedTable) -> list[tuple[str, str, Shape]]:
    """(qualname, kind, static shape) of the rows that correspond to the seed's printed rows."""
    if table.ours is None:
        return [(r.qualname, _kind(r), r.out_shape) for r in report.resolved]
    by_name = {r.qualname: r for top in report.resolved for _, r in walk(top)}
    return [(name, _kind(by_name[name]), by_name[name].out_shape) for name in table.ours]


def _kind(resolved: Resolved) -> str:
    """A one-entry list stage (NiN's max-pools between its blocks) stands for its entry."""
    if resolved.kind == "stage" and len(resolved.children) == 1:
        return resolved.children[0].kind
    return resolved.kind


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.seed)
def test_static_table_equals_the_seeds_printed_table(table: SeedTable) -> None:
    ours = _our_rows(_report(table.spec), table)
    assert [shape for _, _, shape in ours] == [shape for _, shape in table.rows]
    for (name, kind, _), (label, _) in zip(ours, table.rows):
        if label in CLASS_KINDS:  # the seed names a torch class: our row must be that kind of layer
            assert kind in CLASS_KINDS[label], f"{name} is a {kind}, the seed prints {label}"


@pytest.fixture(scope="module", params=sorted(REFERENCES))
def seed_pair(request: pytest.FixtureRequest) -> Iterator[tuple[str, nn.Module, nn.Module]]:
    """(spec, compiled network carrying the seed network's weights, seed network), both in eval mode."""
    spec = request.param
    torch.manual_seed(0)
    theirs = randomise_batchnorm(REFERENCES[spec](), seed=1).eval()
    yield spec, compiled_with_weights(_report(spec), theirs), theirs


def test_compiled_forward_equals_the_seeds_printed_tables(
        seed_pair: tuple[str, nn.Module, nn.Module]) -> None:
    spec, ours, _ = seed_pair
    report = _report(spec)
    shapes = observed_shapes(ours, report.input_shape, batch=1)
    for table in (t for t in TABLES if t.spec == spec):
        assert [shapes[name] for name, _, _ in _our_rows(report, table)] == [shape for _, shape in table.rows]


def test_every_seed_spec_is_compared_with_its_seed() -> None:
    assert {t.spec for t in TABLES} <= set(REFERENCES)
    commented = {p.stem for p in SPECS.glob("*.yaml") if "shared/seeds/" in p.read_text(encoding="utf-8")}
    assert commented == set(REFERENCES)


def test_parameters_equal_the_seed_network(seed_pair: tuple[str, nn.Module, nn.Module]) -> None:
    spec, ours, theirs = seed_pair
    expected = sum(p.numel() for p in theirs.parameters())
    assert sum(p.numel() for p in ours.parameters()) == expected == _report(spec).params
    assert [t.shape for t in ours.state_dict().values()] == [t.shape for t in theirs.state_dict().values()]


def test_outputs_equal_the_seed_network(seed_pair: tuple[str, nn.Module, nn.Module]) -> None:
    spec, ours, theirs = seed_pair
    assert_same_outputs(ours, theirs, (1, *_report(spec).input_shape))


@pytest.mark.parametrize("spec", sorted(REFERENCES))
def test_macs_equal_flop_counter_on_the_seed_network(spec: str) -> None:
    report = _report(spec)
    # eval mode: counting runs one image, which BatchNorm1d refuses to train on
    assert report.macs == counted_macs(lambda: REFERENCES[spec]().eval(), report.input_shape)


def test_seed002_block_order_differs_but_the_network_is_the_same() -> None:
    """Seed 002 defines conv1, conv2, conv3 before bn1, bn2: the same parameters in another order."""
    with torch.device("meta"):
        seed002, seed000 = seeds.resnet18_seed002(), seeds.resnet18_seed000()
    shapes = sorted(tuple(p.shape) for p in seed002.parameters())
    assert shapes == sorted(tuple(p.shape) for p in seed000.parameters())
    assert sum(p.numel() for p in seed002.parameters()) == _report("resnet18-d2l").params


@pytest.mark.parametrize(("width", "stride", "printed"), [(3, 1, (3, 6, 6)), (6, 2, (6, 3, 3))])
def test_d2l_residual_block_equals_the_seeds_printed_shapes(width: int, stride: int, printed: Shape) -> None:
    """Seeds 000 and 002: `Residual(3, 3)` and `Residual(3, 6, use_1x1conv=True, stride=2)` on
    torch.rand(4, 3, 6, 6) print torch.Size([4, 3, 6, 6]) and torch.Size([4, 6, 3, 3])."""
    spec = archspec.load(f"""
name: d2l-residual
input: {{channels: 3, size: 6}}
stages:
  - {{block: basic, width: {width}, stride: {stride}, bias: true, projection_norm: false,
     projection_bias: true}}
""")
    report = archspec.check(spec)
    assert report.output_shape == printed
    theirs = randomise_batchnorm(seeds.Residual000(3, width, stride != 1, stride), seed=3).eval()
    ours = archspec.load_torchvision_weights(build_module(report), theirs)
    assert_same_outputs(ours, theirs, (4, 3, 6, 6))
