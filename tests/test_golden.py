"""Every spec in specs/ against its golden figures in tests/golden/<spec-file-stem>.json.

The golden files hold figures verified against independent sources (see each file's "sources"); here
the static check must reproduce them exactly, and the compiled module must agree with them in reality:
sum(p.numel()) equals the golden parameter count, a real forward pass agrees with the static shapes
and parameters at every module, and the accepted input range holds at its edges.
To add a spec's golden file: `python -m tests.golden_tool specs/NAME.yaml`, then verify (golden_tool.py).
"""

from __future__ import annotations

from functools import cache

import pytest
import torch
from golden_tool import GOLDEN, SOURCED, UNVERIFIED, WRITE_COMMAND, golden_path, read_golden, static_figures

import archspec
from archspec.build import build_module
from archspec.verify import verify_against_forward
from conftest import SPECS

SPEC_FILES = sorted(SPECS.glob("*.yaml"))


def _golden(spec) -> dict:
    if not golden_path(spec).exists():
        pytest.fail(f"specs/{spec.name} has no golden figures: run `{WRITE_COMMAND.format(name=spec.stem)}`, "
                    f"check every number it writes against an independent source and fill in its \"sources\"",
                    pytrace=False)
    return read_golden(spec)


@cache
def _report(spec) -> archspec.Report:
    report = archspec.check(spec)
    assert report.ok, "\n".join(d.render() for d in report.errors)
    return report


def test_specs_are_found() -> None:
    assert len(SPEC_FILES) >= 14  # the ResNet family of issue 2; other issues add more


def test_every_golden_file_belongs_to_a_spec() -> None:
    stale = sorted(p.name for p in GOLDEN.glob("*.json") if not (SPECS / f"{p.stem}.yaml").exists())
    assert not stale, f"golden files without a spec in specs/ (remove them): {stale}"


@pytest.mark.parametrize("spec", SPEC_FILES, ids=lambda p: p.stem)
def test_golden_figures_name_their_sources(spec) -> None:
    sources = _golden(spec).get("sources", {})
    for figure in SOURCED:
        text = sources.get(figure, "")
        assert text.strip() and UNVERIFIED not in text, (
            f"tests/golden/{spec.stem}.json: say under sources.{figure} where the {figure} figure was "
            f"checked independently (torchvision, a paper, a reference network, a real forward pass)")


@pytest.mark.parametrize("spec", SPEC_FILES, ids=lambda p: p.stem)
def test_static_figures_equal_golden(spec) -> None:
    golden = _golden(spec)
    figures = static_figures(_report(spec))
    assert {key: golden.get(key) for key in figures} == figures


@pytest.mark.parametrize("spec", SPEC_FILES, ids=lambda p: p.stem)
def test_compiled_module_agrees_with_golden(spec) -> None:
    golden = _golden(spec)
    report = _report(spec)
    network = build_module(report)
    assert sum(p.numel() for p in network.parameters()) == golden["params"]
    assert verify_against_forward(report, network) == []
    _assert_input_range_edges(report, network, golden["input_range"])


def _assert_input_range_edges(report: archspec.Report, network: torch.nn.Module, accepted: dict) -> None:
    """The network built for the spec's input runs at the smallest (and any largest) height and width
    the range claims, with the static shapes there, and PyTorch refuses the sizes just outside it."""
    channels, height, width = report.input_shape
    inside, outside = [], []
    for axis, (low, high) in enumerate(zip(accepted["min_size"], accepted["max_size"])):
        def shape(size: int, axis: int = axis) -> tuple[int, int, int]:
            return (channels, size, width) if axis == 0 else (channels, height, size)
        inside.append(shape(low))
        outside += [shape(low - 1)] if low > 1 else []
        inside += [shape(high)] if high is not None else []
        outside += [shape(high + 1)] if high is not None else []
    for edge in inside:
        at_edge = archspec.check(report.spec, edge)
        assert at_edge.ok, f"the input range claims {edge} works, but the static check fails there"
        assert verify_against_forward(at_edge, network) == [], f"at input {edge}"
    network.eval()
    for edge in outside:
        try:
            with torch.no_grad():
                network(torch.zeros(1, *edge))
        except RuntimeError:  # too small for a window, or the wrong flattened size for a linear layer
            continue
        pytest.fail(f"input {edge} is outside the claimed input range, but the network accepts it")
