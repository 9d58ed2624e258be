"""quick_dump writes exactly `loader.dump`'s text, or declines (None)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archspec.loader import dump, load_document
from archspec.quick_dump import LINE_LIMIT, quick_dump
from archspec.sample import Sampler

ROOT = Path(__file__).resolve().parent.parent

# Scalars that PyYAML writes plain, quoted, or that a resolver would read as another type.
WORDS = ["conv", "B", "kaiming", "yes", "no", "on", "null", "true", "1e5", "0x10", "12:30", "a b", "a: b",
         "-x", "x#y", "it's", "[x]", "{x}", "", " lead", "é", "2001-12-14", "~", "=", "<<", "*a", "&a", "!t"]
scalars = st.one_of(st.integers(-10**12, 10**12), st.booleans(), st.none(), st.sampled_from(WORDS),
                    st.text(alphabet="abcxyz_-.: '#0123456789", max_size=30))
keys = st.one_of(st.sampled_from(["layer", "block", "width", "kernel", "name", "yes", "null", "a b", "1"]),
                 st.from_regex(r"[a-z_][a-z0-9_]{0,20}", fullmatch=True))
flat = st.dictionaries(keys, scalars, max_size=12)
documents = st.dictionaries(keys, st.one_of(scalars, flat, st.lists(flat, max_size=5),
                                            st.floats(allow_nan=False, allow_infinity=False)), min_size=1, max_size=8)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_quick_dump_is_dumps_text_or_declines(data):
    quick = quick_dump(data)
    assert quick is None or quick == dump(data)


spec_like = st.dictionaries(
    st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True),
    st.one_of(scalars, st.lists(flat.filter(bool), min_size=1, max_size=4), flat), min_size=2, max_size=8,
).filter(lambda data: any(isinstance(value, (dict, list)) for value in data.values()))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(spec_like)
def test_quick_dump_writes_most_spec_like_data_as_dump_does(data):
    quick = quick_dump(data)
    assert quick is None or quick == dump(data)


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,30}-[0-9]{1,8}", fullmatch=True))
def test_a_numbered_name_is_written_as_dump_writes_it(name):
    data = {"name": name, "head": [{"layer": "flatten"}]}
    assert quick_dump(data) == dump(data)


@pytest.mark.parametrize("length", range(LINE_LIMIT - 6, LINE_LIMIT + 6))
def test_lines_at_the_width_are_written_as_pyyaml_wraps_them(length):
    for prefix_key, wrap in (("stages", "- "), ("input", "input: ")):
        filler = "x" * (length - len(wrap) - len("{a: 1, b: }"))
        item = {"a": 1, "b": filler}
        data = {"name": "n", prefix_key: [item] if wrap == "- " else item}
        quick = quick_dump(data)
        assert quick is None or quick == dump(data)
        assert (quick is not None) == (length <= LINE_LIMIT)


def test_the_shipped_specs_and_the_spaces_samples_are_written_alike():
    quick = 0
    for path in sorted((ROOT / "specs").glob("*.yaml")):
        data = load_document(path).data
        written = quick_dump(data)
        quick += written is not None
        assert written is None or written == dump(data), path
    assert quick >= 10
    for space in ("regnet_x.yaml", "anynet_x.yaml"):
        samples = [s.data for s in Sampler(ROOT / "spaces" / space, 1).run(60) if s.data is not None]
        assert samples and all(quick_dump(data) == dump(data) for data in samples)
