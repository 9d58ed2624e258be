"""`archspec sample --jobs`: several processes give the samples one process gives, in the same order,
raise the same first error, and the figures remembered across samples equal a fresh check's."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest

import archspec
from archspec.errors import SpecError
from archspec.loader import dump
from archspec.sample import Budget, Sampler
from archspec.sample_parallel import MAX_CHUNK, MIN_CHUNK, MIN_SAMPLES_PER_JOB, _chunks, default_jobs, run_samples
from archspec.train.threads import usable_cores

ROOT = Path(__file__).resolve().parent.parent
SPACES = ROOT / "spaces"

# Half the samples draw a linear width of -1: the spec is invalid, the space's error, raised for the
# first such sample in index order.
SOMETIMES_INVALID = """name: t
input: {channels: 3, size: 16}
stem: [{layer: conv, width: 8, kernel: 3, padding: 1}]
head: [{layer: global_avgpool}, {layer: flatten}, {layer: linear, width: {choice: [10, 10, 10, 10, -1]}}]
"""


@pytest.mark.parametrize("space", ["regnet_x.yaml", "anynet_x.yaml"])
def test_two_jobs_give_one_jobs_samples_in_order(space):
    alone = run_samples(SPACES / space, 7, None, Budget(macs=800_000_000), 120, jobs=1)
    together = run_samples(SPACES / space, 7, None, Budget(macs=800_000_000), 120, jobs=2)
    assert [sample.index for sample in together] == list(range(120))
    assert together == alone
    assert {sample.status for sample in alone} == {"accepted", "rejected"}  # both kinds compared


@pytest.mark.parametrize("space", ["regnet_x.yaml", "anynet_x.yaml"])
def test_figures_remembered_across_samples_equal_a_fresh_check(space):
    samples = Sampler(SPACES / space, 3).run(150)  # remembers block figures from sample to sample
    accepted = [sample for sample in samples if sample.data is not None]
    assert len(accepted) > 100
    for sample in accepted:
        report = archspec.check(archspec.load(dump(sample.data)))
        assert (report.params, report.macs, report.memory.total) == (sample.params, sample.macs, sample.memory)


def test_a_workers_error_is_the_first_in_index_order_as_in_one_process(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(SOMETIMES_INVALID)
    errors = []
    for jobs in (1, 2):
        with pytest.raises(SpecError) as caught:
            run_samples(space, 0, None, Budget(), 200, jobs=jobs)
        errors.append(caught.value.errors)
    assert errors[0] == errors[1]
    assert errors[0][0].file == str(space) and errors[0][0].line == 4
    assert "(in sample " in errors[0][0].message


def test_a_spec_error_survives_pickling_with_its_diagnostics(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(SOMETIMES_INVALID.replace("{choice: [10, 10, 10, 10, -1]}", "-1").replace(
        "kernel: 3", "kernel: 0"))
    with pytest.raises(SpecError) as caught:
        archspec.load(path)
    copied = pickle.loads(pickle.dumps(caught.value))
    assert len(caught.value.errors) == 2
    assert copied.errors == caught.value.errors and str(copied) == str(caught.value)


def test_the_default_is_one_job_for_few_samples():
    assert default_jobs(MIN_SAMPLES_PER_JOB - 1) == 1
    assert default_jobs(10**6) == usable_cores()


def test_the_command_writes_the_same_bytes_with_one_or_two_jobs(tmp_path):
    folders = []
    for jobs in ("1", "2"):
        out = tmp_path / f"jobs{jobs}"
        result = subprocess.run([sys.executable, "-m", "archspec", "sample", str(SPACES / "regnet_x.yaml"), "-n",
                                 "30", "--seed", "5", "--jobs", jobs, "-o", str(out)],
                                capture_output=True, text=True, cwd=ROOT, check=False)
        assert result.returncode == 0, result.stderr
        folders.append(out)
    names = sorted(p.name for p in folders[0].iterdir())
    assert names == sorted(p.name for p in folders[1].iterdir()) and len(names) > 2
    for name in names:
        assert (folders[0] / name).read_bytes() == (folders[1] / name).read_bytes(), name


@pytest.mark.parametrize(("count", "jobs"), [(10_000, 2), (1_000, 2), (20, 2), (3, 2), (7, 4), (100_001, 16)])
def test_chunks_cover_every_index_once_in_order_and_shrink_toward_the_end(count: int, jobs: int) -> None:
    chunks = _chunks(count, jobs)
    assert [index for start, stop in chunks for index in range(start, stop)] == list(range(count))
    sizes = [stop - start for start, stop in chunks]
    assert sizes == sorted(sizes, reverse=True)
    assert max(sizes) <= MAX_CHUNK
    # The last chunks are small, so that no worker waits long for another's last one; and every
    # worker gets some work.
    assert sizes[-1] <= max(1, min(MIN_CHUNK, count // (jobs * 4)))
    assert len(chunks) >= min(count, jobs)


def test_more_jobs_than_cpus_are_refused_before_any_process_starts(tmp_path, capsys, monkeypatch):
    """`--jobs 100000` started as many processes (a fork each) until the memory ran out."""
    import os

    from archspec.cli import main

    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exited:
        main(["sample", str(Path(__file__).parent.parent / "spaces" / "regnet_x.yaml"), "-n", "2",
              "--jobs", "5", "-o", str(out)])
    assert exited.value.code == 2
    assert "--jobs: expected at most 4 (the CPUs of this machine), found '5'" in capsys.readouterr().err
    assert not out.exists()
