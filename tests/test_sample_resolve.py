"""The prepared resolve pass of `archspec sample` gives what the full pass gives, or leaves it to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from archspec.loader import Document
from archspec.overrides import resolve
from archspec.sample import Sampler

SPACES = Path(__file__).resolve().parent.parent / "spaces"

SPACE = """
name: "net${depth}-w${base}"
input: {channels: 3, size: "${size}"}
vars:
  base: {choice: [8, 16, 24]}
  depth: {int: [1, 3]}
  size: {choice: [16, 32]}
  label: plain
stem:
  - {layer: conv, width: "${base * 2}", kernel: 3, padding: 1}
  - {layer: relu}
stages:
  - {block: basic, width: "${base * 2}", repeats: "${depth}", stride: {choice: [1, 2]}}
head: [{layer: global_avgpool}, {layer: flatten}, {layer: linear, width: "${max(base, 10)}"}]
"""


def _both(sampler: Sampler, index: int) -> tuple[Document | None, Document]:
    data, _, _ = sampler._draw(index)
    full, errors, _ = resolve(sampler._with(data))
    assert not errors
    prepared = sampler._resolver.resolve(data)
    return None if prepared is None else sampler._resolver.document(prepared), full


# A space with a block kind of its own: the `${...}` of its definition are the block's, left as written.
WITH_BLOCKS = SPACE.replace("stem:\n", """blocks:
  twice:
    fields: {extra: 1}
    nodes:
      - {name: conv, layer: conv, width: "${width * extra}", kernel: 3, padding: 1}
      - {name: relu, layer: relu}
stem:
""").replace("{block: basic, width: \"${base * 2}\", repeats: \"${depth}\", stride: {choice: [1, 2]}}",
             "{block: twice, width: \"${base * 2}\", repeats: \"${depth}\", extra: {choice: [1, 2]}}")


@pytest.mark.parametrize("source", [SPACE, WITH_BLOCKS, SPACES / "regnet_x.yaml", SPACES / "anynet_x.yaml"])
def test_the_prepared_pass_gives_the_full_passs_document(source):
    sampler = Sampler(source, 5)
    for index in range(30):
        prepared, full = _both(sampler, index)
        assert prepared is not None
        assert prepared.data == full.data and prepared.expressions == full.expressions
        assert type(prepared) is type(full) and prepared.note == full.note == ""


@pytest.mark.parametrize("change", [
    ("  label: plain\n", "  label: \"${base}\"\n"),  # a var that is an expression: the full pass resolves it
    ("head: [", "scales: {s: {width: 0.5}}\nhead: ["),  # scales: the full pass removes them
])
def test_what_the_prepared_pass_does_not_cover_goes_to_the_full_pass(change):
    sampler = Sampler(SPACE.replace(*change), 0)
    prepared, full = _both(sampler, 0)
    assert prepared is None and full.data is not None
    assert sampler.sample(0).status == "accepted"


def test_an_expression_that_fails_is_reported_at_its_place_by_the_full_pass():
    sampler = Sampler(SPACE.replace("${max(base, 10)}", "${base // (depth - depth)}"), 0)
    with pytest.raises(Exception, match=r"division by zero|divide by zero|by 0") as caught:
        sampler.sample(0)
    assert "(in sample 0)" in str(caught.value) and ":14:85:" in str(caught.value)
    assert "gives" not in str(caught.value)  # the expression failed: it gives nothing
