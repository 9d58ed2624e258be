"""Values a user writes the way other YAML tools read them, and specs compared by content."""

from __future__ import annotations

import archspec
from archspec.blocks import BLOCKS
from archspec.loader import dump

BASE = "name: a\ninput: {channels: 3, size: 8}\nstem:\n  - {layer: conv, width: 4}\n"


def test_exponent_floats_without_a_dot_are_numbers() -> None:
    spec = archspec.load(BASE + "  - {layer: batchnorm, eps: 1e-3}\n  - {layer: dropout, p: 5E-1}\n")
    assert spec.stem[1].eps == 1e-3 and spec.stem[2].p == 0.5


def test_quoted_exponent_stays_a_string() -> None:
    spec_text = BASE + '  - {layer: batchnorm, eps: "1e-3"}\n'
    try:
        archspec.load(spec_text)
    except archspec.SpecError as error:
        assert error.errors[0].path_text == "stem[1].eps"
    else:
        raise AssertionError("a quoted number must not validate as a float")


def test_specs_compare_by_content_not_by_source() -> None:
    from_file = archspec.load("specs/resnet18.yaml")
    from_text = archspec.load(dump(from_file.model_dump(exclude_defaults=True)))
    assert from_file == from_text and hash(from_file) == hash(from_text)
    assert from_file != archspec.load("specs/resnet34.yaml")


def test_registry_membership_of_odd_values_is_false() -> None:
    assert "basic" in BLOCKS
    assert {"layer": "relu"} not in BLOCKS and ["basic"] not in BLOCKS and None not in BLOCKS
