"""Shared test settings.

Hypothesis profiles (README, "Testing"): `ci`, the default and what `.ci/run` selects, runs the same
examples on every run (derandomized, no example database), so that a red CI run is a change, not bad
luck; `explore` hunts bugs on purpose: every Hypothesis test runs EXPLORE_FACTOR times its CI count
of examples, from random seeds, and failures are saved to .hypothesis/ and replayed first next time.
Select one with `HYPOTHESIS_PROFILE=explore` or `--hypothesis-profile=explore`.
"""

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
EXPLORE_FACTOR = 10

settings.register_profile(
    "ci", derandomize=True, database=None, deadline=None, print_blob=True, max_examples=100,
    # Deterministic means no wall-clock verdicts either: on a busy machine the too_slow health check
    # fails a run that passes on an idle one.
    suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "explore", derandomize=False, deadline=None, print_blob=True, max_examples=100,  # scaled below
    database=DirectoryBasedExampleDatabase(ROOT / ".hypothesis" / "examples"),
    suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def checked_report(name: str):
    """The check of a shipped spec (`specs/NAME.yaml`), which must pass."""
    import archspec

    report = archspec.check(SPECS / f"{name}.yaml")
    assert report.ok, report.errors
    return report


def spec_errors(text: str) -> list:
    """Every error of a spec given as YAML text: the load's (validation) or else the check's."""
    import archspec

    try:
        spec = archspec.load(text)
    except archspec.SpecError as error:
        return error.errors
    return list(archspec.check(spec).errors)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under `explore`, every Hypothesis test runs EXPLORE_FACTOR times its own example count, the one
    its @settings gives included: a profile alone cannot raise a count a test sets itself."""
    profile = config.getoption("--hypothesis-profile", None) or os.environ.get("HYPOTHESIS_PROFILE", "ci")
    if profile != "explore":
        return
    scaled: set[int] = set()
    for item in items:
        test = getattr(getattr(item, "obj", None), "__func__", getattr(item, "obj", None))
        if getattr(test, "hypothesis", None) is None or id(test) in scaled:  # not Hypothesis, or done
            continue
        # Hypothesis keeps a test's settings in this attribute; a version that does not is told here,
        # rather than exploring silently with the CI counts.
        own = getattr(test, "_hypothesis_internal_use_settings", None)
        if not isinstance(own, settings):
            raise pytest.UsageError("the explore profile cannot scale the example counts of this "
                                    "Hypothesis version's tests; run with HYPOTHESIS_PROFILE=ci")
        test._hypothesis_internal_use_settings = settings(own, max_examples=own.max_examples * EXPLORE_FACTOR)
        scaled.add(id(test))


@pytest.fixture
def one_thread():
    """Torch on one thread for the test. Tiny networks gain nothing from a second one, and on a busy
    2-core machine OpenMP's busy-waiting threads can make a run ten times slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
