"""Hostile input: a spec is data. Nothing in it runs, no input exhausts time or memory, and every
refusal is a clean `SpecError` (exit code 2 on the command line, never a traceback)."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest

import archspec
from archspec import SpecError
from archspec.budget import MAX_BLOCKS, parse_bytes
from archspec.cli import main
from archspec.loader import MAX_BYTES
from archspec.loader_compose import MAX_DEPTH, MAX_NODES

SMALL = "input: {channels: 3, size: 8}\n"


def refusal(text: str | Path) -> SpecError:
    with pytest.raises(SpecError) as caught:
        archspec.load(text)
    return caught.value


def only_error(text: str | Path) -> str:
    error = refusal(text)
    assert len(error.errors) == 1, error
    return error.errors[0].render()


@pytest.mark.parametrize("tag", [
    "!!python/object/apply:os.system ['touch {marker}']",
    "!!python/object/new:os.system ['touch {marker}']",
    "!!python/object/apply:subprocess.check_call [['touch', '{marker}']]",
    "!!python/name:os.system",
    "!!python/module:os",
])
def test_python_tags_run_nothing_and_are_errors(tag: str, tmp_path: Path):
    marker = tmp_path / "executed"
    text = f"name: x\ninput: {tag.format(marker=marker)}\n"
    message = only_error(text)
    assert not marker.exists()
    assert "<spec>:2:8: error: input: YAML tag" in message and "not allowed" in message


@pytest.mark.parametrize("value", ["!!set {a, b}", "!!binary aGVsbG8=", "!!timestamp 2001-12-14",
                                   "!!omap [a: 1]", "!mytag 3"])
def test_other_non_plain_tags_are_errors(value: str):
    assert "not allowed in a spec" in only_error(f"name: {value}\n{SMALL}")


def test_an_unquoted_date_is_a_plain_string_not_a_timestamp():
    assert archspec.load(f"name: 2024-01-01\n{SMALL}").name == "2024-01-01"


def billion_laughs(levels: int = 9) -> str:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("text", [billion_laughs(), billion_laughs(30),
                                  "name: &a [*a]\n", "a: &a {b: *a}\n"],
                         ids=["10^10 nodes", "10^31 nodes", "self-list", "self-map"])
def test_alias_bombs_are_refused_fast_in_bounded_memory(text: str):
    tracemalloc.start()
    started = time.perf_counter()
    try:
        message = only_error(text)
    finally:
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert "spec too large" in message
    # Generous bounds (measured: ~15 ms and < 1 MiB): the aliases are never expanded.
    assert seconds < 1.0 and peak < 16 * 1024**2, (seconds, peak)


def test_aliases_within_the_node_limit_still_work():
    text = ("name: x\ninput: {channels: 3, size: 8}\nstages:\n"
            "  - &stage {block: basic, width: 4, stride: 1}\n  - *stage\n"
            "  - {<<: *stage, stride: 2}\n")
    spec = archspec.load(text)
    assert [stage.stride for stage in spec.stages] == [1, 1, 2]
    assert MAX_NODES >= 10_000


@pytest.mark.parametrize("text, line", [
    ("name: a\nname: b\ninput: {channels: 3, size: 8}\n", 2),  # (a missing `input` is an error too)
    ("name: a\ninput: {channels: 3, channels: 4, size: 8}\n", 2),
    ("name: a\ninput:\n  channels: 3\n  size: 8\n  size: 9\n", 5),
])
def test_duplicate_keys_are_errors_not_last_wins(text: str, line: int):
    message = only_error(text)
    assert f"<spec>:{line}:" in message and "duplicate key" in message
    assert "first given on line" in message


def test_every_duplicate_is_reported_at_once():
    error = refusal("name: a\nname: b\ninput: {channels: 3, size: 8}\ninput: {channels: 3, size: 8}\n")
    assert [d.line for d in error.errors] == [2, 4]


DEEP_DOCUMENTS = {  # text, and the place of its first node deeper than MAX_DEPTH levels
    "flow-lists": ("name: " + "[" * 50_000 + "]" * 50_000 + "\n", (1, 7 + MAX_DEPTH - 1)),
    "unclosed": ("name: " + "[" * 50_000 + "\n", (1, 7 + MAX_DEPTH - 1)),
    "flow-maps": ("name: " + "{a: " * 5_000 + "1" + "}" * 5_000 + "\n", (1, 7 + 4 * (MAX_DEPTH - 2) + 1)),
    "block-maps": ("".join("  " * i + "a:\n" for i in range(300)) + "  " * 300 + "b: 1\n",
                   (MAX_DEPTH, 2 * MAX_DEPTH - 1)),
    "block-lists": ("".join("  " * i + "-\n" for i in range(300)), (MAX_DEPTH + 1, 2 * MAX_DEPTH + 1)),
}


@pytest.mark.parametrize("name", list(DEEP_DOCUMENTS))
def test_deep_nesting_is_a_clean_error(name: str):
    """archspec's own words, place and hint, whichever parser refuses first (libyaml has a nesting
    limit of its own, which it reaches on one line of `[[[[` before archspec's guard sees level 65)."""
    text, place = DEEP_DOCUMENTS[name]
    started = time.perf_counter()
    (error,) = refusal(text).errors
    assert f"nests deeper than {MAX_DEPTH} levels" in error.message
    assert (error.line, error.column) == place
    assert error.hint is not None and "nest a few levels" in error.hint
    assert time.perf_counter() - started < 5.0


def test_huge_files_are_refused_before_parsing(tmp_path: Path):
    path = tmp_path / "huge.yaml"
    path.write_text("name: x\n" + "# padding\n" * (MAX_BYTES // 10 + 1))
    message = only_error(path)
    assert f"{path}:1:1" in message and f"at most {MAX_BYTES:,} bytes" in message
    assert "at most" in only_error("name: x\n" + " " * MAX_BYTES + "\n")


def test_endless_files_are_read_only_up_to_the_limit():
    message = only_error(Path("/dev/zero"))  # reports size 0 and never ends
    assert f"found more than {MAX_BYTES:,}" in message


@pytest.mark.parametrize("value, shown", [(".nan", ".nan"), (".inf", ".inf"), ("-.inf", "-.inf"),
                                          ("1.0e+999", "1.0e+999")])
def test_nan_and_infinity_are_errors(value: str, shown: str):
    message = only_error(f"name: x\ninput: {{channels: 3, size: 8}}\nhead: [{{layer: dropout, p: {value}}}]\n")
    assert f"head[0].p: expected a finite number, found `{shown}`" in message


@pytest.mark.parametrize("field, value, expected", [
    ("size", "-1", "expected >= 1"),
    ("size", "0", "expected >= 1"),
    ("size", "100000000000000000000000000000", "expected <= 4096"),
    ("channels", "0", "expected >= 1"),
    ("channels", "1000000", "expected <= 65536"),
    ("size", "[8, -8]", "input.size[1]: expected >= 1"),
])
def test_negative_and_absurd_sizes_are_errors(field: str, value: str, expected: str):
    other = "size: 8" if field == "channels" else "channels: 3"
    assert expected in only_error(f"name: x\ninput: {{{field}: {value}, {other}}}\n")


def test_non_utf8_bytes_are_located(tmp_path: Path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: x\ndescription: caf\u00e9\n".encode("latin-1"))
    message = only_error(path)
    assert f"{path}:2:17: error: expected UTF-8 text, found the byte 0xe9" in message
    assert "save the file as UTF-8" in message


def test_utf16_and_control_characters_are_clean_errors(tmp_path: Path):
    path = tmp_path / "utf16.yaml"
    path.write_bytes("name: x\n".encode("utf-16"))
    assert "expected UTF-8 text" in only_error(path)
    assert "<spec>:1:8: error: invalid YAML: expected printable text, found the character U+0000" in \
        only_error("name: a\x00b\n")


def test_odd_keys_and_documents_are_clean_errors():
    assert "expected a name as key, found 1" in only_error(f"name: a\n1: c\n{SMALL}")
    assert "expected a name as key" in only_error(f"name: a\n? [a, b]\n: c\n{SMALL}")
    assert "found a second one" in only_error(f"name: a\n{SMALL}---\nname: b\n")
    assert "the spec is empty" in only_error("# only a comment\n")
    assert "expected a mapping of keys to values, found [1, 2]" in only_error("- 1\n- 2\n")


# ---- resource budget ----------------------------------------------------------------------------

GIANT = """name: giant
input: {channels: 3, size: 4096}
stem: [{layer: conv, width: 65536, kernel: 1}]
head: [{layer: flatten}, {layer: linear, width: 65536}]
"""


def test_a_giant_network_is_refused_statically_with_the_estimate():
    report = archspec.check(archspec.load(GIANT))
    assert not report.ok and len(report.errors) == 1
    message = report.errors[0].render()
    # 65536 x 4096 x 4096 outputs (4 TiB) and a linear layer of 2^56 weights: 256 PiB of parameters.
    assert "expected at most 4.0 GiB of memory (the budget)" in message
    assert "of parameters (the most, 72,057,594,037,993,472, in fc)" in message
    assert "<spec>:4:" in message and "--max-memory" in message


def test_compile_refuses_before_allocating_anything():
    started = time.perf_counter()
    with pytest.raises(SpecError, match="memory"):
        archspec.compile(archspec.load(GIANT))  # 256 PiB: any allocation attempt would fail loudly
    assert time.perf_counter() - started < 5.0


def test_the_budget_is_a_keyword_and_a_flag(capsys: pytest.CaptureFixture[str]):
    spec = archspec.load(Path(__file__).parent.parent / "specs" / "resnet18.yaml")
    assert archspec.check(spec).ok
    report = archspec.check(spec, max_memory=10 * 1024**2)
    assert not report.ok and "expected at most 10.0 MiB of memory" in report.errors[0].message
    # 11,689,512 parameters x 4 bytes, plus the most activations alive at once: while layer4.1.conv2
    # runs, the image, layer4's input and layer4.1's (for its shortcut), the conv's input and output,
    # its unfolded input (im2col: 512 x 3 x 3 values per output pixel) and its weights, which its own
    # kernel copies on a channels-last input. conv1 (its input, output and 3 x 7 x 7 values per output
    # pixel unfolded) comes close, below.
    at_layer4 = 3 * 224 * 224 + 256 * 14 * 14 + 512 * 7 * 7 + 2 * 512 * 7 * 7 + 512 * 9 * 7 * 7 + 512 * 512 * 9
    at_conv1 = 3 * 224 * 224 + 64 * 112 * 112 + 3 * 7 * 7 * 112 * 112
    assert at_conv1 < at_layer4 and report.memory.largest.qualname == "layer4.1.conv2"
    # Its 20 BatchNorms' running statistics over 4,800 channels: a running mean and variance per
    # channel (float32) and a batch count each (int64).
    buffers = 4800 * 2 * 4 + 20 * 8
    assert report.memory.total == 11_689_512 * 4 + buffers + at_layer4 * 4
    assert archspec.check(spec, max_memory=None).ok
    path = str(Path(__file__).parent.parent / "specs" / "resnet18.yaml")
    assert main(["check", path, "--max-memory", "10MiB"]) == 2
    assert "44.6 MiB of parameters" in capsys.readouterr().err
    assert main(["check", path, "--max-memory", "none"]) == 0
    assert main(["compile", path, "--max-memory", "1MB"]) == 2
    assert "of memory (the budget)" in capsys.readouterr().err


@pytest.mark.parametrize("text, expected", [("4GiB", 4 * 1024**3), ("512 MB", 512_000_000),
                                            ("1e9", 10**9), ("1.5GiB", 3 * 1024**3 // 2)])
def test_memory_sizes_parse(text: str, expected: int):
    assert parse_bytes(text) == expected


def test_absurd_depth_is_refused_before_lowering():
    stages = "  - &s {block: basic, width: 4, repeats: 1000}\n" + "  - *s\n" * 19
    started = time.perf_counter()
    report = archspec.check(archspec.load(f"name: deep\n{SMALL}stages:\n{stages}"))
    assert time.perf_counter() - started < 2.0
    assert [d.message for d in report.errors] == [
        f"expected at most {MAX_BLOCKS:,} blocks in a network, found 20,000"]


# ---- the command line never shows a traceback -------------------------------------------------

@pytest.mark.parametrize("content", [
    b"name: x\ninput: !!python/object/apply:os.system ['true']\n",
    billion_laughs().encode(),
    b"name: " + b"[" * 10_000 + b"\n",
    b"\xff\xfe\x00garbage",
    b"name: a\nname: b\n",
    GIANT.encode(),
    b"",
    b":\n- ]",
], ids=["python-tag", "alias-bomb", "deep", "binary", "duplicate", "giant", "empty", "garbage"])
@pytest.mark.parametrize("command", ["check", "compile"])
def test_cli_exit_2_without_traceback(content: bytes, command: str, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "hostile.yaml"
    path.write_bytes(content)
    assert main([command, str(path)]) == 2
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and f"{path}" in err and "error" in err
