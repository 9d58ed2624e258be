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
from conftest import SPECS
from golden_tool import GOLDEN, SOURCED, UNVERIFIED, WRITE_COMMAND, golden_path, read_golden, static_figures

import archspec
from archspec.build import build_module
from archspec.verify import verify_against_forward

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
    assert tuple(_forward_shape(network, report.input_shape)) == tuple(golden["output_shape"])
    _assert_input_range_edges(report, network, golden["input_range"])


def _forward_shape(network: torch.nn.Module, shape: tuple[int, ...]) -> tuple[int, ...]:
    network.eval()
    with torch.no_grad():
        return tuple(network(torch.zeros(1, *shape)).shape[1:])


def _assert_input_range_edges(report: archspec.Report, network: torch.nn.Module, accepted: dict) -> None:
    """The network built for the spec's input runs at the smallest (and any largest) size the range
    claims, with the static shapes, and fails just outside it."""
    channels, height, width = report.input_shape
    edges = [(accepted["min_size"][0], width), (height, accepted["min_size"][1])]
    edges += [(size, width) for size in accepted["max_size"][:1] if size is not None]
    edges += [(height, size) for size in accepted["max_size"][1:] if size is not None]
    for edge in edges:
        at_edge = archspec.check(report.spec, (channels, *edge))
        assert at_edge.ok, f"the range claims {edge} works but the static check fails"
        assert verify_against_forward(at_edge, network) == [], f"at input size {edge}"
    outside = [(accepted["min_size"][0] - 1, width), (height, accepted["min_size"][1] - 1)]
    outside += [(size + 1, width) for size in accepted["max_size"][:1] if size is not None]
    outside += [(height, size + 1) for size in accepted["max_size"][1:] if size is not None]
    for edge in (e for e in outside if min(e) >= 1):
        with pytest.raises(RuntimeError):  # torch refuses the shape: too small, or wrong flatten size
            _forward_shape(network, (channels, *edge))
