"""`archspec blocks SPEC` on a spec with errors: it refused to list anything, where the user with a
broken spec is the one who needs the kinds and their fields. It lists the built-in and library kinds
and the spec's own (and imported) kinds whose definitions are valid, then reports the errors as
`check` does (located, exit code 2)."""

from __future__ import annotations

import json

from archspec.cli import main

BROKEN = """name: broken
input: {channels: 1, size: 8}
imports: [unit.yaml]
blocks:
  good:
    fields: {k: 3}
    nodes:
      - {name: conv, layer: conv, width: "${width}", kernel: "${k}", padding: 1}
  bad:
    nodes:
      - {name: conv, layer: conv, widht: 3}
  nests_bad:
    nodes:
      - {name: inner, block: bad}
  nests_good:
    nodes:
      - {name: inner, block: good, k: 1}
stages:
  - {block: good, width: 4}
"""
UNIT = "blocks:\n  unit:\n    nodes:\n      - {name: relu, layer: relu}\n"


def listed_sources(out: str) -> dict[str, str]:
    """kind -> the section (`built-in`, `library`, `spec`) it is listed under."""
    found, section = {}, ""
    for line in out.splitlines():
        if line.endswith(" kinds:"):
            section = line.removesuffix(" kinds:")
        elif line.startswith("  ") and not line.startswith("   "):
            found[line.split()[0]] = section
    return found


def test_a_broken_spec_lists_what_is_valid_and_reports_its_errors_located(tmp_path, capsys):
    (tmp_path / "unit.yaml").write_text(UNIT)
    spec = tmp_path / "broken.yaml"
    spec.write_text(BROKEN)
    assert main(["blocks", str(spec)]) == 2
    out, err = capsys.readouterr()
    sources = listed_sources(out)
    assert {kind: sources.get(kind) for kind in ("basic", "squeeze_excite", "good", "nests_good", "unit")} == {
        "basic": "built-in", "squeeze_excite": "library", "good": "spec", "nests_good": "spec", "unit": "spec"}
    assert "bad" not in sources and "nests_bad" not in sources  # invalid, and nesting the invalid one
    assert "fields: k=3" in out
    assert f"{spec}:11:42: error: blocks.bad.nodes[0].widht: unknown key `widht`" in err
    assert "hint: did you mean `width`?" in err and "Traceback" not in err


def test_the_json_form_holds_the_kinds_and_the_errors(tmp_path, capsys):
    spec = tmp_path / "broken.yaml"
    spec.write_text(BROKEN.replace("imports: [unit.yaml]\n", ""))
    assert main(["blocks", str(spec), "--json"]) == 2
    listed = json.loads(capsys.readouterr().out)
    assert {"good", "nests_good", "basic"} <= {entry["kind"] for entry in listed["kinds"]}
    assert [(error["line"], error["path"]) for error in listed["errors"]] == [(10, "blocks.bad.nodes[0].widht")]


def test_a_spec_that_does_not_parse_still_lists_the_built_in_and_library_kinds(tmp_path, capsys):
    spec = tmp_path / "unparsed.yaml"
    spec.write_text("name: x\ninput: [1\n")
    assert main(["blocks", str(spec)]) == 2
    out, err = capsys.readouterr()
    assert {"basic", "bottleneck", "squeeze_excite"} <= set(listed_sources(out))
    assert f"{spec}:3:1: error:" in err and "invalid YAML" in err


def test_an_import_that_fails_leaves_the_specs_own_kinds_listed(tmp_path, capsys):
    spec = tmp_path / "broken.yaml"
    spec.write_text(BROKEN.replace("unit.yaml", "missing.yaml"))
    assert main(["blocks", str(spec)]) == 2
    out, err = capsys.readouterr()
    assert listed_sources(out).get("good") == "spec"
    assert "cannot import `missing.yaml`" in err
