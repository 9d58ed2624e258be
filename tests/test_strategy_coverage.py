"""`valid_specs()` draws every block kind (built in and the standard library's) and every layer kind.

The kind lists come from archspec itself (the block and layer registries, the library's YAML), so a
new kind fails this test until the strategies draw it. The draws are derandomized (a fixed seed):
the same examples on every run. That the drawn specs check, build, and have static shapes, figures
and MACs equal to the real module's is tests/test_properties.py's property, which draws from the
same default `valid_specs()`.
"""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

import archspec
from archspec.blocks import BLOCKS
from archspec.budget import DEFAULT_MAX_MEMORY
from archspec.layers import LAYERS
from archspec.library import library_kinds
from archspec.loader import dump
from archspec.testing import valid_specs
from archspec.testing.kinds import SHORTCUTS, Knobs, draw_image_layer

EXAMPLES = 1000  # each of the ~50 kinds is drawn several times in these; the draws take seconds


def drawn_kinds(document: dict) -> Counter[str]:
    """`block:KIND` and `layer:KIND` for every stage, list-stage entry, stem and head layer."""
    found: Counter[str] = Counter()
    for stage in document.get("stages", []):
        for entry in stage.get("blocks", [stage]):
            found["block:" + entry["block"] if "block" in entry else "layer:" + entry["layer"]] += 1
    for layer in document.get("stem", []) + document.get("head", []):
        found["layer:" + layer["layer"]] += 1
    return found


def test_valid_specs_draw_every_block_kind_of_the_registry_and_the_library_and_every_layer_kind():
    seen: Counter[str] = Counter()

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True)
    @given(valid_specs())
    def collect(document: dict) -> None:
        seen.update(drawn_kinds(document))

    collect()
    wanted = {f"block:{kind}" for kind in [*BLOCKS.names(), *library_kinds()]}
    wanted |= {f"layer:{kind}" for kind in LAYERS.names()}
    assert not wanted - set(seen), sorted(wanted - set(seen))


def written_settings(document: object, found: Counter[tuple]) -> None:
    """(kind, field) for every field a drawn layer writes, anywhere in the document (stem, stages,
    head, block definitions), with (kind, field, value) for a boolean's value, and (kind, "ceil_mode
    with padding") where a pool strides with ceil_mode over a padded input."""
    if isinstance(document, dict):
        kind = document.get("layer")
        if isinstance(kind, str):
            for key, value in document.items():
                found[kind, key] += 1
                if isinstance(value, bool):
                    found[kind, key, value] += 1
            padded = document.get("padding", 0) not in (0, [0, 0])
            strided = document.get("stride", document.get("kernel", 2)) not in (1, [1, 1])
            if document.get("ceil_mode") is True and padded and strided:
                found[kind, "ceil_mode with padding"] += 1
        for value in document.values():
            written_settings(value, found)
    elif isinstance(document, list):
        for value in document:
            written_settings(value, found)


def test_valid_specs_write_every_field_of_every_layer_kind_and_both_values_of_its_booleans():
    """The strategies left fields at their defaults: no pool with `ceil_mode: true` and padding was
    drawn in 1,000 networks (an ONNX export defect went unnoticed), nor a linear layer without bias, a
    BatchNorm's `momentum`, an in-place hardsigmoid. The fields come from the layer registry."""
    found: Counter[tuple] = Counter()

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
    @given(valid_specs(user_blocks=True))
    def collect(document: dict) -> None:
        written_settings(document, found)

    # And the layers of stems and list stages alone, many times: each value of each field is met many
    # times over there, whatever kinds other tests register (the networks' draws follow the registry).
    @settings(max_examples=3 * EXAMPLES, deadline=None, database=None, derandomize=True)
    @given(st.data(), st.sampled_from([(4, 8, 8), (3, 5, 7), (6, 16, 16)]))
    def collect_layers(data: st.DataObject, x: tuple[int, int, int]) -> None:
        written_settings(draw_image_layer(data.draw, x, Knobs(1, 8, SHORTCUTS, "B")), found)

    collect()
    collect_layers()
    wanted: set[tuple] = set()
    for kind in LAYERS.names():
        for name, info in LAYERS[kind].model_fields.items():
            if name == "name":
                continue
            wanted.add((kind, name))
            if info.annotation is bool:
                wanted |= {(kind, name, True), (kind, name, False)}
    wanted |= {("maxpool", "ceil_mode with padding"), ("avgpool", "ceil_mode with padding")}
    assert not wanted - set(found), sorted(wanted - set(found))


def test_a_library_stage_left_at_an_expression_default_dumps_to_a_spec_that_loads():
    """`squeeze_excitation`'s `squeeze` defaults to `${in // 4}`, an expression over the block's own
    names: a dump that wrote it into the stage would be read as a spec-level expression (`in` unknown)."""
    spec = archspec.load("name: se\ninput: {channels: 8, size: 8}\nstages:\n"
                         "  - {block: squeeze_excitation, width: 8}\n"
                         "  - {block: squeeze_excitation, width: 8, squeeze: 3}\n")
    again = archspec.load(dump(spec.model_dump(mode="json")))
    assert again.model_dump() == spec.model_dump()
    assert archspec.check(again).params == archspec.check(spec).params


def test_max_repeats_reaches_the_languages_limit_and_no_further() -> None:
    """`max_repeats=10**9` drew `repeats: 1001`, which no spec may write: `valid_specs` broke its
    promise instead of refusing the knob."""
    with pytest.raises(InvalidArgument, match="max_repeats must be at most 1,000"):
        valid_specs(max_repeats=1_001).example()

    @settings(max_examples=5, deadline=None, database=None)
    @given(valid_specs(max_repeats=1_000, max_stages=1, max_width=4, block_kinds=["basic"]))
    def accepted(document: dict) -> None:
        report = archspec.check(archspec.load(dump(document)))
        assert report.ok, [error.render() for error in report.errors]

    accepted()


def test_wide_knobs_draw_only_networks_within_the_memory_budget() -> None:
    """`max_width=65536` drew networks of 4 GiB and more, which archspec refuses by its memory budget,
    and bottlenecks of 16,385 x 4 channels and inception blocks of four 32,768-channel branches,
    beyond the 65,536 channels a spec may write: `valid_specs` promised valid specs and gave ones that
    `check` turns down."""

    for kinds in (None, ["bottleneck", "inception"]):  # width x expansion, four widths concatenated
        @settings(max_examples=40, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
        @given(valid_specs(max_width=65536, max_stages=2, block_kinds=kinds))
        def accepted(document: dict) -> None:
            report = archspec.check(archspec.load(dump(document)))
            assert report.ok, [error.render() for error in report.errors]
            assert report.memory_bytes <= DEFAULT_MAX_MEMORY

        accepted()


def test_max_width_reaches_the_languages_limit_and_no_further() -> None:
    with pytest.raises(InvalidArgument, match="max_width must be at most 65,536"):
        valid_specs(max_width=65_537).example()
