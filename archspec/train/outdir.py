"""The run directory (--out): checked before any training, and the spec files kept in it.

    DIR/spec.yaml            the spec exactly as written
    DIR/spec.resolved.json   the validated spec with every default filled in, and its static figures
    DIR/metrics.jsonl        one JSON object per epoch          (report.py)
    DIR/curves.png           loss and accuracy curves           (report.py)
    DIR/last.pt, best.pt     checkpoints                        (checkpoint.py)
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from archspec.check import Report
from archspec.commands import UsageError
from archspec.files import write_text
from archspec.spec import Spec
from archspec.train.checkpoint import LAST

SPEC_COPY, RESOLVED_SPEC = "spec.yaml", "spec.resolved.json"


def prepare(out: Path, *, resume: bool, overwrite: bool) -> Path:
    """Create `out` and prove it writable; refuse to clobber a run unless asked. Writes nothing else."""
    out = out.expanduser()
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a directory; choose a directory for the run")
    try:
        out.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=".write-test.", dir=out)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise UsageError(f"--out {out} is not writable: {error.strerror or error}; choose another "
                         "directory") from None
    if resume and not (out / LAST).is_file():
        raise UsageError(f"--resume: there is no {out / LAST} to resume from; run without --resume "
                         "to start a run there")
    if not resume and not overwrite and (out / LAST).exists():
        raise UsageError(f"--out {out} already holds a run ({LAST}): pass --resume to continue it, "
                         "--overwrite to start again, or choose another --out")
    return out


def write_spec_files(out: Path, spec: Spec, report: Report, text: str, source: str,
                     overrides: tuple[str, ...] = ()) -> None:
    resolved = {
        "source": source,
        "overrides": list(overrides),  # --set: `spec` below has them applied
        "input_shape": list(report.input_shape),
        "output_shape": list(report.output_shape or ()),
        "params": report.params,
        "macs": report.macs,
        "spec": spec.model_dump(mode="json"),
    }
    write_text(out / SPEC_COPY, text)
    write_text(out / RESOLVED_SPEC, json.dumps(resolved, indent=2) + "\n")
