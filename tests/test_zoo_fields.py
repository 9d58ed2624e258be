"""The zoo's specs with their library blocks' fields changed, as users change them: every refused
value is refused at the field the user wrote, in archspec's words, with a hint; every accepted one
builds exactly what the check reports (archspec.testing's strategies draw library stages with random
field values: tests/test_properties.py)."""

from __future__ import annotations

import pytest
import torch

import archspec
from archspec import SpecError
from archspec.build import build_module
from archspec.verify import verify_against_forward
from conftest import SPECS


def only_error(spec: str, overrides: dict[str, object]) -> archspec.Diagnostic:
    report = archspec.check(archspec.load(SPECS / f"{spec}.yaml", overrides), max_memory=None)
    assert len(report.errors) >= 1
    return report.errors[0]


def assert_at_the_users_field(error: archspec.Diagnostic, spec: str, path: str) -> None:
    """The error points into the spec (not into a library file) at the field that was changed."""
    assert error.file is not None and error.file.endswith(f"specs/{spec}.yaml"), error.render()
    assert error.path_text == path, error.render()
    assert error.hint, error.render()


@pytest.mark.parametrize(("value", "expected"), [(70_000, "expected <= 65536, found 70000"),
                                                 (2.5, "expected an integer, found 2.5")])
def test_a_nested_blocks_setting_out_of_range_is_said_in_archspecs_words_at_the_users_field(value, expected):
    # mobilenet_v3_block passes `expanded` to mobilenet_v3_layers, which passes it to conv_norm_act's
    # width: the nested block's validation said Pydantic's "Input should be less than or equal to
    # 65536" at the library file, with no hint.
    error = only_error("mobilenet_v3_small", {"stages[0].blocks[1].expanded": value})
    assert_at_the_users_field(error, "mobilenet_v3_small", "stages[0].blocks[1].expanded")
    assert expected in error.message and "Input should" not in error.message
    assert error.hint == f"`${{expanded}}` gives {value}"


def test_a_nested_blocks_unmet_requirement_is_said_at_the_users_field_it_carries():
    # kernel -1 meets mobilenet_v3_block's `kernel % 2 == 1` (Python's modulo), and conv_norm_act's
    # `kernel >= 1`, two definitions further in, was said at the library file
    error = only_error("mobilenet_v3_small", {"stages[0].blocks[11].kernel": -1})
    assert_at_the_users_field(error, "mobilenet_v3_small", "stages[0].blocks[11].kernel")
    assert "`conv_norm_act` requires `kernel >= 1`, but kernel is -1" in error.message


@pytest.mark.parametrize(("spec", "overrides", "path", "requirement"), [
    # p = drop_rate * number / (total - 1) reaches drop_rate at the last block: 1.0 was accepted by
    # the block and refused by its stochastic_depth layer (p < 1) inside the library file
    ("convnext_tiny", {"stages[6].drop_rate": 1.0}, "stages[6].drop_rate", "drop_rate >= 0 and drop_rate < 1"),
    ("efficientnet_b0", {"stochastic_depth": 1.0, "blocks": 14}, "stages[1].stochastic_depth_prob",
     "stochastic_depth_prob >= 0 and stochastic_depth_prob < 1"),
    # block numbers past total_blocks: p = 0.9 * 3 / 2
    ("efficientnet_b0", {"stochastic_depth": 0.9, "blocks": 2}, "stages[3].stochastic_depth_prob",
     "stochastic_depth_prob * (first_block + index) / total_blocks < 1"),
    # a block number below 0 made a negative rate, refused by the layer inside the library file
    ("convnext_tiny", {"stages[2].first": -1}, "stages[2].first", "first >= 0"),
])
def test_a_drop_rate_that_makes_a_stochastic_depth_of_1_is_refused_at_the_users_field(spec, overrides, path,
                                                                                       requirement):
    error = only_error(spec, overrides)
    assert_at_the_users_field(error, spec, path)
    assert f"requires `{requirement}`" in error.message


def test_a_drop_rate_just_below_1_builds_with_the_reports_rates():
    spec = archspec.load(SPECS / "convnext_tiny.yaml", {"stages[6].drop_rate": 0.99})
    report = archspec.check(spec, (3, 32, 32), max_memory=None)
    assert report.ok, report.errors
    network = build_module(report)
    assert network.get_submodule("features.7.2.stochastic_depth").p == pytest.approx(0.99)


@pytest.mark.parametrize("written", ["1e30", "1.0e20"])
def test_a_huge_float_where_an_integer_goes_is_not_answered_with_its_binary_digits(written):
    with pytest.raises(SpecError) as caught:
        archspec.load(SPECS / "mobilenet_v2.yaml", [f"stages[0].blocks[0].width={written}"])
    (error,) = caught.value.errors
    assert error.hint == "write a whole number"


def test_a_whole_float_where_an_integer_goes_is_answered_with_the_integer():
    with pytest.raises(SpecError) as caught:
        archspec.load(SPECS / "mobilenet_v2.yaml", ["stages[0].blocks[0].width=32.0"])
    assert caught.value.errors[0].hint == "write 32, without the decimal point"


def test_a_changed_zoo_spec_builds_what_its_check_reports():
    spec = archspec.load(SPECS / "mobilenet_v3_small.yaml", {"stages[0].blocks[1].expanded": 3})
    report = archspec.check(spec, (3, 33, 17))
    network = build_module(report)
    assert report.ok and not verify_against_forward(report, network)
    assert sum(p.numel() for p in network.parameters()) == report.params
    with torch.no_grad():
        assert tuple(network.eval()(torch.zeros(1, 3, 33, 17)).shape[1:]) == report.output_shape


@pytest.mark.parametrize(("stage", "path", "message", "hint"), [
    ("{block: regnet_y, width: 16, group_width: 8, se_ratio: 0.01}", "stages[0].se_ratio",
     "requires `round(se_ratio * in) >= 1`, but se_ratio is 0.01, in is 8", "write `se_ratio: 0.25` (the default)"),
    ("{block: squeeze_excitation, width: 8, squeeze: 0}", "stages[0].squeeze",
     "requires `squeeze >= 1`, but squeeze is 0", "squeeze >= 1"),
    ("{block: squeeze_excite, width: 8, reduction: 0}", "stages[0].reduction",
     "requires `reduction >= 1`, but reduction is 0", "write `reduction: 16` (the default)"),
], ids=["regnet_y", "squeeze_excitation", "squeeze_excite"])
def test_a_squeeze_excitation_that_would_have_no_channels_is_refused_at_the_users_field(
        stage: str, path: str, message: str, hint: str):
    """Issue 14's example of bad input: an SE reduction that rounds to zero channels."""
    text = (f"name: t\ninput: {{channels: 3, size: 16}}\nstem: [{{layer: conv, width: 8, kernel: 3}}]\n"
            f"stages:\n  - {stage}\n")
    (error,) = archspec.check(archspec.load(text)).errors
    assert (error.path_text, error.line) == (path, 5), error.render()
    assert message in error.message and hint in (error.hint or ""), error.render()
