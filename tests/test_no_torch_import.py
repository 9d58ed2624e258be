"""The static check path never imports torch: `archspec check` must start in a fraction of a second
(benchmarks/run.py, section 2), and importing torch alone takes seconds.

Each command runs in a fresh process that prints, at exit, every module in `sys.modules`: the ground
truth, which sees imports made anywhere (a lazy import inside a function, `importlib.import_module`,
a third-party module importing torch), not only those visible in archspec's own source.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, SPECS

# A spec whose static check fails (a 7x7 kernel on a 4x4 input): the error path must be torch-free too.
TOO_SMALL = """\
name: too-small
input: {channels: 3, size: 4}
stem:
  - {layer: conv, width: 8, kernel: 7}
"""

MARK = "MODULES-AT-EXIT "
# Registered first, so it runs last at exit (atexit is last in, first out), after the command is done.
LIST_AT_EXIT = ("import atexit, json, sys\n"
                f"atexit.register(lambda: print({MARK!r} + json.dumps(sorted(sys.modules)), file=sys.stderr))\n")
RUN_CLI = "import runpy\nrunpy.run_module('archspec', run_name='__main__', alter_sys=True)\n"


def imported_modules(code: str, *arguments: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Runs `python -c CODE ARGUMENTS` from the repository root; its result and the modules it had
    imported when it exited (whatever the exit status)."""
    result = subprocess.run([sys.executable, "-c", LIST_AT_EXIT + code, *arguments], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, check=False)
    listed = [line for line in result.stderr.splitlines() if line.startswith(MARK)]
    assert len(listed) == 1, f"the process did not list its modules: {result.stderr[-2000:]}"
    return result, set(json.loads(listed[0][len(MARK):]))


def torch_modules(modules: set[str]) -> set[str]:
    return {name for name in modules if name.split(".")[0] in {"torch", "torchvision", "functorch"}}


def test_the_import_list_is_read_correctly() -> None:
    """The detector itself: without this, an empty list would make every assertion below vacuous."""
    _, bare = imported_modules("pass")
    result, modules = imported_modules("import fractions")
    assert result.returncode == 0, result.stderr
    assert "fractions" not in bare and "fractions" in modules
    assert torch_modules({"torch", "torch.nn", "torchvision.models", "torchmetrics", "json"}) == {
        "torch", "torch.nn", "torchvision.models"}


def test_cli_check_json_imports_no_torch() -> None:
    result, modules = imported_modules(RUN_CLI, "check", "specs/resnet18.yaml", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["params"] == 11_689_512
    assert report["input_range"] is not None  # the lazily computed range ran too
    assert {"archspec.check", "archspec.loader", "archspec.commands.check"} <= modules
    assert torch_modules(modules) == set()


def test_cli_check_table_and_error_path_import_no_torch(tmp_path: Path) -> None:
    table, table_modules = imported_modules(RUN_CLI, "check", "specs/resnet152.yaml",
                                            "--depth", "2")
    assert table.returncode == 0, table.stderr
    assert "layer3.35.conv3" in table.stdout and "accepts:" in table.stdout
    assert torch_modules(table_modules) == set()

    spec = tmp_path / "too-small.yaml"
    spec.write_text(TOO_SMALL, encoding="utf-8")
    failed, failed_modules = imported_modules(RUN_CLI, "check", str(spec))
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    assert "too-small.yaml:4" in failed.stderr  # the located error was reported
    assert torch_modules(failed_modules) == set()


def test_api_load_and_check_import_no_torch() -> None:
    script = ("import archspec\n"
              f"report = archspec.check(archspec.load({str(SPECS / 'resnet50.yaml')!r}))\n"
              "print(report.params, report.output_shape, report.input_range.describe())\n")
    result, modules = imported_modules(script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:3] == ["25557032", "(1000,)", "3xHxW"]
    assert torch_modules(modules) == set()


def test_cli_help_imports_no_torch() -> None:
    result, modules = imported_modules(RUN_CLI, "--help")
    assert result.returncode == 0, result.stderr
    assert "check" in result.stdout and "compile" in result.stdout
    assert "archspec.cli" in modules
    assert torch_modules(modules) == set()
