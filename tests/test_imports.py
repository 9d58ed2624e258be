"""`imports:` (issue 13): definitions read from other files with the same loader and limits as a spec;
a kind defined twice, too many files, files nested too deep, files that are no YAML mapping of
`blocks:`, too large or not regular files are errors located where they are written, in the file that
names them or in the imported file itself. (Cycles, missing files and an error inside an imported
definition: tests/test_user_blocks.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

import archspec

RELU_KIND = "blocks:\n  {kind}:\n    nodes: [{{layer: relu}}]\n"


def _spec(tmp_path: Path, imports: list[str], kind: str = "mine", own: str = "") -> Path:
    path = tmp_path / "net.yaml"
    path.write_text(f"name: t\ninput: {{channels: 3, size: 8}}\nimports: [{', '.join(imports)}]\n{own}"
                    f"stages: [{{block: {kind}, width: 3}}]\n")
    return path


def _errors(path: Path) -> list[archspec.Diagnostic]:
    with pytest.raises(archspec.SpecError) as raised:
        archspec.check(archspec.load(path))
    return raised.value.errors


def test_a_kind_defined_in_two_imported_files_is_an_error_in_the_second_naming_the_first(tmp_path: Path):
    (tmp_path / "a.yaml").write_text(RELU_KIND.format(kind="mine"))
    (tmp_path / "b.yaml").write_text(RELU_KIND.format(kind="mine"))
    (error,) = _errors(_spec(tmp_path, ["a.yaml", "b.yaml"]))
    assert (error.file, error.line, error.path) == (str(tmp_path / "b.yaml"), 3, ("blocks", "mine"))
    assert "`mine` is defined twice" in error.message and str(tmp_path / "a.yaml") in error.message
    assert error.hint == "rename one of them"


def test_a_kind_the_spec_defines_and_imports_is_an_error_in_the_spec(tmp_path: Path):
    (tmp_path / "a.yaml").write_text(RELU_KIND.format(kind="mine"))
    (error,) = _errors(_spec(tmp_path, ["a.yaml"], own=RELU_KIND.format(kind="mine")))
    assert (error.file, error.path) == (str(tmp_path / "net.yaml"), ("blocks", "mine"))
    assert "defined twice" in error.message


def test_more_than_64_files_is_an_error_at_the_65th(tmp_path: Path):
    for number in range(70):
        (tmp_path / f"f{number}.yaml").write_text(RELU_KIND.format(kind=f"k{number}"))
    (error,) = _errors(_spec(tmp_path, [f"f{number}.yaml" for number in range(70)], kind="k0"))
    assert error.path == ("imports", 64) and error.line == 3
    assert "at most 64 imported files" in error.message and error.hint


def test_imports_nested_more_than_8_deep_are_an_error_in_the_file_that_goes_too_deep(tmp_path: Path):
    for number in range(12):
        (tmp_path / f"f{number}.yaml").write_text(
            f"imports: [f{number + 1}.yaml]\n" + RELU_KIND.format(kind=f"k{number}"))
    (tmp_path / "f12.yaml").write_text("blocks: {}\n")
    (error,) = _errors(_spec(tmp_path, ["f0.yaml"], kind="k0"))
    assert (error.file, error.path, error.line) == (str(tmp_path / "f7.yaml"), ("imports", 0), 1)
    assert "nest more than 8 files deep" in error.message and error.hint


@pytest.mark.parametrize(("content", "words"), [
    (b"root:x:0:0:root:/root:/bin/bash\n", "holds only `blocks:`"),  # a file that is not a definitions file
    (b"blocks: {}\n" + b"#" * 1_100_000 + b"\n", "at most 1,000,000 bytes"),  # refused before parsing
    (b"blocks: {a: \xff}\n", "UTF-8"),
    (b"blocks: !!python/object/apply:os.system ['touch x']\n", "tag"),
])
def test_an_imported_file_that_is_no_definitions_file_is_an_error_placed_in_it(tmp_path: Path, content: bytes,
                                                                                words: str, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "other.yaml").write_bytes(content)
    errors = _errors(_spec(tmp_path, ["other.yaml"], kind="basic"))
    assert errors and all(error.file == str(tmp_path / "other.yaml") for error in errors), errors
    assert any(words in error.message for error in errors), [error.render() for error in errors]
    assert not (tmp_path / "x").exists()


def test_a_folder_is_not_imported_and_the_error_says_where_paths_start(tmp_path: Path):
    (tmp_path / "blocks.yaml").mkdir()
    (error,) = _errors(_spec(tmp_path, ["blocks.yaml"], kind="basic"))
    assert (error.file, error.path, error.line) == (str(tmp_path / "net.yaml"), ("imports", 0), 3)
    assert "not a regular file" in error.message
    assert f"relative to the folder of {tmp_path / 'net.yaml'}" in (error.hint or "")


@pytest.mark.parametrize("target", ["environ", "secrets.txt", "key.pem"])
def test_an_import_that_is_no_yaml_file_is_refused_without_reading_it(tmp_path: Path, target: str):
    # A spec is data: whatever file it names must not be read, let alone quoted in an error.
    (tmp_path / target).write_text("SECRET_TOKEN=abc123\n")
    (error,) = _errors(_spec(tmp_path, [target]))
    assert error.path == ("imports", 0) and error.line == 3
    assert "expected a YAML file (.yaml or .yml)" in error.message and target in error.message
    assert "SECRET_TOKEN" not in f"{error.message} {error.hint} {error.source_line}"
    assert "blocks/se.yaml" in error.hint


def test_a_yaml_named_link_to_a_file_of_another_kind_is_refused(tmp_path: Path):
    (tmp_path / "secrets").write_text("SECRET_TOKEN=abc123\n")
    (tmp_path / "blocks.yaml").symlink_to(tmp_path / "secrets")
    (error,) = _errors(_spec(tmp_path, ["blocks.yaml"]))
    assert "expected a YAML file" in error.message and "SECRET_TOKEN" not in str(error)


def test_a_yml_file_is_imported(tmp_path: Path):
    (tmp_path / "defs.yml").write_text(RELU_KIND.format(kind="mine"))
    report = archspec.check(archspec.load(_spec(tmp_path, ["defs.yml"])))
    assert report.ok and report.output_shape == (3, 8, 8)
