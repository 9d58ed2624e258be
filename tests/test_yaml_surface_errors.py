"""How YAML's own surface reaches the user's errors: words YAML 1.1 reads as booleans, aliases, merge keys."""

from __future__ import annotations

import pytest

import archspec
from archspec import SpecError


def errors_of(text: str, overrides: list[str] | None = None) -> list:
    with pytest.raises(SpecError) as raised:
        archspec.load(text, overrides)
    return raised.value.errors


def test_a_yaml_boolean_word_where_a_name_goes_is_shown_as_written_with_the_quoted_form():
    name, width, conv_name = errors_of("name: yes\ninput: {channels: 3, size: 8}\n"
                                       "stem: [{layer: conv, width: on, name: no}]\n")
    assert (name.path, name.line, name.column) == (("name",), 1, 7)
    assert "found `yes`, which YAML reads as true" in name.message and name.hint == 'quote it to write the word: "yes"'
    assert "found `no`, which YAML reads as false" in conv_name.message and '"no"' in (conv_name.hint or "")
    assert "found `on`, which YAML reads as true" in width.message and "write the number" in (width.hint or "")


def test_a_boolean_an_override_or_an_expression_gives_is_not_read_from_the_file():
    # the file writes `name: no` and a `${flag}`: neither is the word that made these booleans
    expression, overridden = errors_of("name: no\nvars: {flag: true}\ninput: {channels: 3, size: 8}\n"
                                       "stem: [{layer: conv, width: 4, name: \"${flag}\"}]\n", ["name=on"])
    assert overridden.message == "--set name=on: expected a string, found true"
    assert expression.path == ("stem", 0, "name") and "found true" in expression.message
    assert "YAML reads" not in expression.message


def test_a_mistake_in_an_anchored_mapping_is_one_error_at_the_anchor_naming_every_use():
    errors = errors_of("name: n\ninput: {channels: 3, size: 8}\nstem:\n"
                       "  - &c {layer: conv, width: 8, kernel: 0}\n"  # line 4: the mistake, used three times
                       "  - {layer: relu}\n  - *c\n  - {<<: *c, width: 16}\n"
                       "  - {layer: relu, x: 1}\n")  # line 8: another mistake
    assert [(e.path, e.line, e.column) for e in errors] == [(("stem", 0, "kernel"), 4, 40), (("stem", 4, "x"), 8, 19)]
    assert errors[0].message.endswith("(the same text is also stem[2].kernel and stem[3].kernel)")


def test_a_duplicate_key_a_tag_or_nan_does_not_hide_the_specs_other_errors():
    errors = errors_of("name: n\ninput: {channels: 3, size: 0}\n"  # line 2: a wrong value
                       "stem:\n  - {layer: conv, width: 8, width: 9}\n"  # line 4: a duplicate key
                       "  - {layer: conv, width: !!python/object 8, kernel: .nan}\n"  # line 5: a tag and NaN
                       "  - {layer: relu, foo: 1}\n")  # line 6: an unknown key
    assert [(e.path, e.line, e.column) for e in errors] == [
        (("input", "size"), 2, 28), (("stem", 0, "width"), 4, 29), (("stem", 1, "width"), 5, 26),
        (("stem", 1, "kernel"), 5, 53), (("stem", 2, "foo"), 6, 19)]
    # the values the loader left out are not reported again as missing or null
    assert not any("null" in e.message or "missing" in e.message for e in errors)
