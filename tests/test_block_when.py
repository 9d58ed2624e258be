"""`when:` and `else:` on a node of a block written in YAML, wrong-typed `from:` and `requires:`, and
layer settings a block makes wrong:
each mistake is a located error in the definition's terms, never a node silently kept or dropped."""

from __future__ import annotations

import pytest

from conftest import spec_errors

SPEC = """name: t
input: {channels: 3, size: 16}
blocks:
  k:
    fields: {r: 2}
    nodes:
      - {name: a, layer: conv, width: "${width}", kernel: 3, padding: 1}
      - {name: b, layer: batchnorm}
      - {name: c, layer: relu}
stem: [{layer: conv, width: 8, kernel: 3, padding: 1}]
stages:
  - {block: k, width: 8}
head: [{layer: global_avgpool}, {layer: flatten}, {layer: linear, width: 3}]
"""


@pytest.mark.parametrize(("node", "message"), [
    # text that is not one `${...}`: a non-empty string, which kept the node whatever it said
    ('{name: b, layer: batchnorm, when: "false"}', "expected true, false or one `${...}` condition, found 'false'"),
    ('{name: b, layer: batchnorm, when: "x${r > 1}"}', "one `${...}` condition, found 'x${r > 1}'"),
    ('{name: b, layer: batchnorm, when: " ${r > 1} "}', "one `${...}` condition, found ' ${r > 1} '"),
    # a number is no condition, as in `requires` (`when: 0` written as is was refused; `${r - 2}` dropped the node)
    ('{name: b, layer: batchnorm, when: "${r - 2}"}', "expected true or false, found 0"),
    ('{name: b, layer: batchnorm, when: "${r}"}', "expected true or false, found 2"),
    # an `else` without a `when` is never read
    ("{name: b, layer: batchnorm, else: a}", "`else` is read only where `when` is false"),
])
def test_a_when_that_is_no_condition_is_refused_at_its_place(node: str, message: str):
    errors = spec_errors(SPEC.replace("{name: b, layer: batchnorm}", node))
    assert len(errors) == 1 and message in errors[0].message, errors
    assert errors[0].line == 8 and errors[0].path[:3] == ("blocks", "k", "nodes")


def test_a_when_that_is_a_condition_still_works():
    for when in ('"${r > 5}"', "false"):
        node = f"{{name: b, layer: batchnorm, when: {when}}}"
        assert spec_errors(SPEC.replace("{name: b, layer: batchnorm}", node)) == []


@pytest.mark.parametrize(("text", "expected"), [
    ("{name: c, layer: relu, from: 5}", "expected a string or a list of node names, found 5"),
    ('{name: c, layer: relu}\n    requires: "${r > 1}"', 'expected a list of `${...}` conditions, found "${r > 1}"'),
])
def test_a_from_or_requires_of_the_wrong_type_says_what_it_takes(text: str, expected: str):
    errors = spec_errors(SPEC.replace("{name: c, layer: relu}", text))
    assert [error.message for error in errors] == [expected]  # not "a list of 2 numbers [height, width]"


@pytest.mark.parametrize(("conv", "message"), [
    ("width: -5", "width: expected >= 1, found -5"),  # was Pydantic's "Input should be ...", without the value
    ('width: "${width / 3}"', "width: expected an integer, found 2.6666666666666665"),
    ("width: 8, kernel: [3, 0]", "kernel[1]: expected >= 1, found 0"),
    ('width: 8, groups: "depthwize"', "groups: expected an integer or 'depthwise', found \"depthwize\""),
    # true is no width: Python-mode validation read it as 1 and the check accepted a 1-channel conv
    ('width: "${width > 3}"', "width: expected a number, found true"),
    ("width: true", "width: expected a number, found true"),
])
def test_a_layer_setting_a_block_makes_wrong_says_expected_and_found(conv: str, message: str):
    node = "{name: a, layer: conv, width: \"${width}\", kernel: 3, padding: 1}"
    errors = spec_errors(SPEC.replace(node, node.replace('width: "${width}"', conv).replace(", kernel: 3", "")
                                      if "kernel" in conv else node.replace('width: "${width}"', conv)))
    assert len(errors) == 1 and errors[0].line == 7 and errors[0].message.endswith(f": {message}"), errors


@pytest.mark.parametrize(("fields", "message"), [
    ('{r: "${q * 2}", q: 2}', "`${q * 2}` reads `q`, a field written after it"),  # was "unknown name `q`" at each use
    ('{r: "${r + in}"}', "`${r + in}` reads `r`, this field itself"),
])
def test_a_default_reading_a_later_field_is_refused_in_the_definition(fields: str, message: str):
    errors = spec_errors(SPEC.replace("fields: {r: 2}", f"fields: {fields}"))
    assert [(error.path, error.line) for error in errors] == [(("blocks", "k", "fields", "r"), 5)]
    assert message in errors[0].message and "a default reads the fields before it" in errors[0].message
    assert not spec_errors(SPEC.replace("fields: {r: 2}", 'fields: {q: 2, r: "${q * 2}"}'))


@pytest.mark.parametrize("join", ["{op: add, from: [c]}", "{op: add, from: []}", "{op: add}",
                                  "{op: concat, from: c}", "{op: mul, from: []}"])
def test_a_join_of_fewer_than_two_inputs_is_refused(join: str):
    """An `add` or `concat` of one input is that input: it was accepted (and built) as an identity,
    where the writer surely forgot the other input (the shortcut, the earlier maps)."""
    errors = spec_errors(SPEC.replace("{name: c, layer: relu}", "{name: c, layer: relu}\n      - " + join))
    assert len(errors) == 1, errors
    assert "two or more inputs" in errors[0].message or "takes two inputs" in errors[0].message
    assert errors[0].line == 10 and errors[0].path[:4] == ("blocks", "k", "nodes", 3)
    assert ("found 0" in errors[0].message) == ("[]" in join)


def test_a_join_of_two_inputs_still_works():
    two = "{name: c, layer: relu}\n      - {op: add, from: [a, c]}"
    assert spec_errors(SPEC.replace("{name: c, layer: relu}", two)) == []


@pytest.mark.parametrize(("node", "message"), [
    ('{name: "${r > 1}", layer: relu}', "expected a name, found true"),  # was Python's True
    # a nested block's width: Python-mode validation read true as 1 and built a 1-channel block
    ('{name: c, block: k2, width: "${r > 1}"}', "width: expected a number, found true"),
    ("{name: c, block: k2, width: true}", "width: expected a number, found true"),
])
def test_a_true_or_false_in_an_error_is_written_as_a_spec_writes_it(node: str, message: str):
    text = SPEC.replace("{name: c, layer: relu}", node)
    nested = "  k2:\n    nodes:\n      - {layer: conv, width: \"${width}\", kernel: 1}\n"
    text = text.replace("blocks:\n", "blocks:\n" + nested)
    errors = spec_errors(text)
    assert len(errors) == 1 and message in errors[0].message, errors
