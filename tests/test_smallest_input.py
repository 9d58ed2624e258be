"""An input too small for a window: the hint names the smallest input the network accepts.

It said only "use a larger input size, or less downsampling before this layer", leaving the user to
find the size by trial. Each hint here is read back: the size it suggests checks, and every smaller
size along an axis that had to grow fails.
"""

from __future__ import annotations

import re

import pytest
from test_input_range_gaps import HALVES, QUARTERS, spec_text

import archspec
from archspec.cli import main
from conftest import SPECS

HINT = re.compile(r"the network accepts (\d+)xHxW with (H [^,]+), (W .+?): "
                  r"(?:try `--input (\d+)x(\d+)x(\d+)`|write `input: \{channels: (\d+), size: ([^}]+)\}`)")


def suggested(hint: str | None) -> tuple[tuple[int, int, int], str, str]:
    """The size a hint suggests, and its words for each axis; fails the test where it says none."""
    found = HINT.match(hint or "")
    assert found, hint
    if found[4]:
        return (int(found[4]), int(found[5]), int(found[6])), found[2], found[3]
    size = [int(part) for part in re.findall(r"\d+", found[8])]
    return (int(found[7]), size[0], size[-1]), found[2], found[3]


@pytest.mark.parametrize("name, too_small", [
    ("vgg11", (3, 8, 8)), ("vgg11", (3, 8, 40)), ("lenet", (1, 8, 8)), ("alexnet", (3, 30, 30)),
    ("googlenet", (3, 8, 8)), ("squeezenet1_1", (3, 8, 8)), ("lenet", (1, 11, 300)),
])
def test_the_hint_names_the_smallest_input_and_a_size_that_checks(name, too_small):
    spec = archspec.load(SPECS / f"{name}.yaml")
    report = archspec.check(spec, too_small)
    assert not report.ok
    shape, height, width = suggested(report.errors[0].hint)
    assert archspec.check(spec, shape).ok
    for axis in (1, 2):
        assert shape[axis] >= too_small[axis]
        if shape[axis] > too_small[axis]:  # the axis had to grow: one less fails, and the hint says so
            smaller = list(shape)
            smaller[axis] -= 1
            assert not archspec.check(spec, tuple(smaller)).ok
            assert (height if axis == 1 else width) == f"{'HW'[axis - 1]} >= {shape[axis]}"
        else:  # the user's size fits this axis: the suggestion keeps it
            assert shape[axis] == too_small[axis]


@pytest.mark.parametrize("paths, size, words, smallest", [
    (HALVES, 1, "H >= 2 and H % 2 == 0", 2),
    (QUARTERS, 2, "H >= 4 and H % 4 == 0", 4),
])
def test_the_hint_names_the_period_where_the_accepted_sizes_have_gaps(paths, size, words, smallest):
    """A YAML block whose paths round a size apart accepts only every other (or fourth) size."""
    report = archspec.check(archspec.load(spec_text(paths, size)))
    assert not report.ok
    shape, height, width = suggested(report.errors[0].hint)
    assert (shape, height, width) == ((3, smallest, smallest), words, words.replace("H", "W"))
    assert archspec.check(archspec.load(spec_text(paths, smallest))).ok


def test_the_spec_input_is_named_as_the_spec_writes_it_and_the_command_line_as_input():
    text = ("name: small\ninput: {channels: 1, size: [4, 9]}\nstem:\n  - {layer: conv, width: 2, kernel: [5, 3]}\n"
            "  - {layer: maxpool}\n")
    report = archspec.check(archspec.load(text))
    hint = report.errors[0].hint
    assert "write `input: {channels: 1, size: [6, 9]}`" in hint, hint
    assert archspec.check(archspec.load(text.replace("[4, 9]", "[6, 9]"))).ok
    assert "try `--input 1x6x5`" in archspec.check(archspec.load(text), (1, 5, 5)).errors[0].hint


def test_the_command_says_it_with_the_located_error(tmp_path, capsys):
    assert main(["check", str(SPECS / "lenet.yaml"), "--input", "1x8x8"]) == 2
    error = capsys.readouterr().err
    assert "lenet.yaml:13:38: error: stem[3].kernel: conv2 (input 6x4x4): conv with kernel 5x5" in error
    assert "hint: the network accepts 1xHxW with H >= 12, W >= 12: try `--input 1x12x12`" in error


def test_no_size_is_claimed_where_another_problem_remains_at_every_size():
    """A name clash stays whatever the input: no input makes the network check, so none is named."""
    text = ("name: clash\ninput: {channels: 1, size: 4}\nstem:\n  - {layer: conv, width: 2, kernel: 7, name: a}\n"
            "  - {layer: relu, name: a}\n")
    errors = archspec.check(archspec.load(text)).errors
    assert any("does not fit its 4x4 input" in error.message for error in errors)
    assert all(error.hint is None or "accepts" not in error.hint for error in errors)
