"""Shared test settings."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"


@pytest.fixture
def one_thread():
    """Torch on one thread for the test. Tiny networks gain nothing from a second one, and on a busy
    2-core machine OpenMP's busy-waiting threads can make a run ten times slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
