"""torchvision's DenseNet-121, SqueezeNet 1.1 and ShuffleNet v2 1.0x as specs built from library blocks
(dense_layer, transition, fire, shuffle_unit), against torchvision itself (no downloads: random weights).

For each spec: the parameter count and the MACs at 224x224 equal the zoo issue's figures, torchvision's
weights meta (`num_params`, `_ops`) and torch's FlopCounterMode on torchvision's model; torchvision's
state_dict loads into the compiled network with strict=True, under the same keys in the same order,
and the eval outputs are equal with random BatchNorm statistics; the smallest accepted input equals the
meta's `min_size`, the network runs there, and one pixel less is refused as torchvision refuses it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import pytest
import torch
import torchvision
from test_library_blocks import assert_reproduces
from torch import nn
from torch_checks import counted_macs, randomise_batchnorm
from torchvision.models.shufflenetv2 import InvertedResidual as ShuffleUnit
from torchvision.models.squeezenet import Fire

import archspec
from archspec.build import build_module
from archspec.cli import main
from conftest import SPECS

tv = torchvision.models


class Reference(NamedTuple):
    build: Callable[[], nn.Module]
    weights: type  # the weights enum whose meta publishes num_params, _ops and min_size
    params: int  # the zoo issue's figures
    macs: int  # at 3x224x224
    compare_at: int  # the input size the outputs are compared at (one forward, batch 1)


MODELS = {
    # DenseNet and SqueezeNet compare at their smallest input: the edge, and the cheapest forward.
    "densenet121": Reference(tv.densenet121, tv.DenseNet121_Weights, 7_978_856, 2_834_161_664, 29),
    "squeezenet1_1": Reference(tv.squeezenet1_1, tv.SqueezeNet1_1_Weights, 1_235_496, 349_151_936, 17),
    # ShuffleNet accepts 1x1 images, where its depthwise 3x3 windows see one pixel: compare at 224.
    "shufflenet_v2_x1_0": Reference(tv.shufflenet_v2_x1_0, tv.ShuffleNet_V2_X1_0_Weights, 2_278_604,
                                    144_907_992, 224),
}


def _report(name: str, size: int = 224) -> archspec.Report:
    report = archspec.check(SPECS / f"{name}.yaml", (3, size, size))
    assert report.ok, [error.render() for error in report.errors]
    return report


@pytest.mark.parametrize("name", sorted(MODELS))
def test_figures_equal_torchvisions(name: str) -> None:
    reference, report = MODELS[name], _report(name)
    assert report.params == reference.params
    assert report.macs == reference.macs
    assert report.output_shape == (1000,)
    assert counted_macs(lambda: reference.build().eval(), (3, 224, 224)) == reference.macs
    for entry in reference.weights:  # e.g. DenseNet121_Weights.IMAGENET1K_V1.meta["_ops"] == 2.834 (GMACs)
        assert entry.meta["num_params"] == reference.params, entry
        assert round(report.macs / 1e9, 3) == entry.meta["_ops"], entry


@pytest.mark.parametrize("name", sorted(MODELS))
def test_torchvisions_state_dict_loads_strictly_and_outputs_are_equal(name: str) -> None:
    reference = MODELS[name]
    torch.manual_seed(0)
    theirs = randomise_batchnorm(reference.build(), seed=1).eval()
    ours = build_module(_report(name, reference.compare_at)).eval()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict(), strict=True)
    assert sum(p.numel() for p in ours.parameters()) == reference.params
    size = reference.compare_at
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected, found = theirs(x), ours(x)
    assert found.shape == expected.shape == (1, 1000)
    assert (found - expected).abs().max().item() <= 1e-5


@pytest.mark.parametrize("name", sorted(MODELS))
def test_smallest_input_equals_torchvisions_min_size(name: str) -> None:
    reference = MODELS[name]
    accepted = _report(name).input_range
    assert accepted is not None
    (smallest, _), = {entry.meta["min_size"] for entry in reference.weights}
    assert accepted.min_size == (smallest, smallest)
    assert accepted.max_size == (None, None)  # adaptive pooling before the classifier: no upper bound
    with torch.no_grad():  # a real forward at the edge
        assert build_module(_report(name, smallest)).eval()(torch.zeros(1, 3, smallest, smallest)).shape == (1, 1000)
    if smallest > 1:
        assert not archspec.check(SPECS / f"{name}.yaml", (3, smallest - 1, smallest)).ok
        with torch.device("meta"), pytest.raises(RuntimeError):  # torchvision refuses it too
            reference.build().eval()(torch.zeros(1, 3, smallest - 1, smallest))


def test_squeezenets_dropout_draws_as_torchvisions_in_train_mode() -> None:
    """The classifier's dropout is torchvision's module, with its p, at its place; in train mode the
    same seed drops the same activations (SqueezeNet has no BatchNorm: dropout is all train mode
    changes), and another seed drops others, which the comparison would see."""
    torch.manual_seed(0)
    theirs = tv.squeezenet1_1().train()
    ours = build_module(_report("squeezenet1_1", 64)).train()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    def dropouts(network: nn.Module) -> list[tuple[str, type, float]]:
        return [(name, type(m), m.p) for name, m in network.named_modules() if isinstance(m, nn.Dropout)]
    assert dropouts(ours) == dropouts(theirs) == [("classifier.0", nn.Dropout, 0.5)]
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    torch.manual_seed(3)
    expected = theirs(x)
    torch.manual_seed(3)
    assert torch.allclose(ours(x), expected, rtol=1e-5, atol=1e-5)
    torch.manual_seed(4)
    assert not torch.allclose(ours(x), expected, rtol=1e-3, atol=1e-3)


def test_densenets_features_hold_torchvisions_modules() -> None:
    """Dotted copy names make each dense block a container of `features`, as torchvision's
    `_DenseBlock`: features.denseblock1.denselayer1 ... denselayer6, then features.transition1."""
    with torch.device("meta"):
        ours = build_module(_report("densenet121"))
    names = [name for name, _ in ours.features.named_children()]
    assert names == ["conv0", "norm0", "relu0", "pool0", "denseblock1", "transition1", "denseblock2",
                     "transition2", "denseblock3", "transition3", "denseblock4", "norm5"]
    assert [name for name, _ in ours.features.denseblock3.named_children()] == \
        [f"denselayer{number}" for number in range(1, 25)]


def test_shufflenets_first_unit_has_both_branches_and_the_others_only_the_second() -> None:
    with torch.device("meta"):
        ours, theirs = build_module(_report("shufflenet_v2_x1_0")), tv.shufflenet_v2_x1_0()
    for unit in ("stage2.0", "stage2.1", "stage4.3"):
        mine, reference = ours.get_submodule(unit), theirs.get_submodule(unit)
        assert [(name, type(module)) for name, module in mine.named_modules() if name.startswith("branch")] == \
            [(name, type(module)) for name, module in reference.named_modules()
             if name.startswith("branch") and (name != "branch1" or len(module))]


@pytest.mark.parametrize(("stage", "channels", "reference"), [
    ("{block: fire, squeeze: 16, width: 128}", 64, lambda: Fire(64, 16, 64, 64)),
    ("{block: fire, squeeze: 48, width: 384}", 256, lambda: Fire(256, 48, 192, 192)),
    ("{block: shuffle_unit, width: 116, stride: 2}", 24, lambda: ShuffleUnit(24, 116, 2)),
    ("{block: shuffle_unit, width: 232}", 232, lambda: ShuffleUnit(232, 232, 1)),
], ids=["fire", "fire-wide", "shuffle-stride2", "shuffle-stride1"])
def test_library_kind_reproduces_torchvisions_module(stage: str, channels: int, reference: Callable[[], nn.Module]):
    torch.manual_seed(0)
    assert_reproduces(stage, channels, 9, reference())


def test_fire_and_shuffle_unit_are_listed_with_a_description(capsys):
    assert main(["blocks"]) == 0
    listed = capsys.readouterr().out.splitlines()
    for kind in ("fire", "shuffle_unit"):
        assert any(line.split()[:1] == [kind] and len(line.split()) > 1 for line in listed), kind


@pytest.mark.parametrize("stage", ["{block: fire, squeeze: 8, width: 33}",
                                   "{block: shuffle_unit, width: 31, stride: 2}"])
def test_an_odd_width_that_cannot_be_halved_is_refused(stage: str):
    """Both kinds give half of `width` to each branch: an odd width is refused, not rounded down."""
    report = archspec.check(archspec.load(f"name: t\ninput: {{channels: 8, size: 8}}\nstages:\n  - {stage}\n"))
    assert not report.ok
    error = report.errors[0]  # the kind's `requires:`, at the stage's width, in the stage's terms
    assert error.path == ("stages", 0, "width") and error.file is None and error.line == 4
    assert "requires `width % 2 == 0`" in error.message and "width is 3" in error.message


def test_python_export_keeps_each_units_own_channel_split():
    """Stride-1 units of two widths slice different channel ranges (x[:, 0:4] vs x[:, 0:8]): the
    generated source gives them different classes and computes what the compiled network does."""
    from archspec.export.python_source import python_source

    report = archspec.check(archspec.load(
        "name: t\ninput: {channels: 3, size: 8}\nstem: [{layer: conv, width: 8, kernel: 1}]\nstages:\n"
        "  - {block: shuffle_unit, width: 8, repeats: 2}\n"
        "  - {block: shuffle_unit, width: 16, repeats: 2, stride: 2}\n"))
    network = randomise_batchnorm(build_module(report), seed=1).eval()
    namespace: dict[str, object] = {}
    exec(compile(python_source(report, network), "generated.py", "exec"), namespace)  # archspec's own output
    model = namespace["T"]().eval()  # type: ignore[operator]
    model.load_state_dict(network.state_dict(), strict=True)
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.equal(model(x), network(x))


def test_python_export_puts_each_argument_on_a_line_where_the_arguments_alone_are_too_long():
    from archspec.export.python_source import WIDTH, _fit

    line = " " * 12 + "nn.Conv2d(" + ", ".join(f"argument_{n}=({n}, {n})" for n in range(8)) + "),"
    fitted = _fit(line)
    assert all(len(part) <= WIDTH for part in fitted) and len(fitted) == 10
    call = compile("[\n" + "\n".join(fitted) + "\n]", "generated.py", "eval")  # still one valid expression
    assert call.co_names == ("nn", "Conv2d")
