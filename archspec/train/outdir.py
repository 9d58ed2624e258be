"""The run directory (--out): checked before any training, locked while a run uses it, and the spec
files kept in it.

    DIR/spec.yaml            the spec exactly as written
    DIR/spec.resolved.json   the validated spec with every default filled in, and its static figures
    DIR/metrics.jsonl        one JSON object per epoch          (report.py)
    DIR/curves.png           loss and accuracy curves           (report.py)
    DIR/last.pt, best.pt     checkpoints                        (checkpoint.py)
    DIR/.archspec.lock       while a run uses DIR: the lock, and the pid and host of the run holding it

The lock is an advisory `flock` held for the whole run: a second run on the same directory stops
with exit code 2 before it writes anything. The kernel drops the lock when its process ends, however
it ends, so a run killed with kill -9 never leaves the directory locked.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

from archspec import files
from archspec.check import Report
from archspec.commands import UsageError
from archspec.files import write_text
from archspec.spec import Spec
from archspec.train.checkpoint import BEST, LAST
from archspec.train.report import METRICS, PLOT

try:
    import fcntl
except ImportError:  # not a POSIX system: runs are not locked
    fcntl = None  # type: ignore[assignment]

SPEC_COPY, RESOLVED_SPEC = "spec.yaml", "spec.resolved.json"
LOCK = ".archspec.lock"
RUN_FILES = (SPEC_COPY, RESOLVED_SPEC, METRICS, PLOT, LAST, BEST)


def create(out: Path) -> Path:
    """Create `out` and prove it writable. Writes nothing in it."""
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
    return out


def check_previous_run(out: Path, *, resume: bool, overwrite: bool) -> None:
    """Refuse to clobber a run unless asked, and run files that are not regular files."""
    if resume and not (out / LAST).is_file():
        raise UsageError(f"--resume: there is no {out / LAST} to resume from; run without --resume "
                         "to start a run there")
    if not resume and not overwrite and (out / LAST).exists():
        raise UsageError(f"--out {out} already holds a run ({LAST}): pass --resume to continue it, "
                         "--overwrite to start again, or choose another --out")
    for name in RUN_FILES:
        try:
            files.regular_file_target(out / name)
        except files.NotARegularFile as error:
            raise UsageError(f"--out {out}: cannot write {name} there: {error.strerror}; remove it or "
                             "choose another --out") from None


def remove_checkpoints(out: Path) -> None:
    """A fresh run on a directory (--overwrite) starts without the run before's checkpoints: killed
    before its first epoch ended, it would leave them beside its own metrics, for --resume to continue."""
    for name in (LAST, BEST):
        (out / name).unlink(missing_ok=True)


@dataclass
class RunLock:
    path: Path
    descriptor: int

    def release(self) -> None:
        # Removed while still held: a run that opened the file just before finds, once it holds the
        # lock, that the name leads elsewhere, and starts over (see `claim`).
        with contextlib.suppress(OSError):
            self.path.unlink(missing_ok=True)
        os.close(self.descriptor)


def claim(out: Path) -> RunLock | None:
    """Lock `out` for this run (UsageError if another run holds it), then remove the temporary files
    that killed runs left there. None where the system or file system has no locks."""
    if fcntl is None:
        return None
    path = out / LOCK
    while True:
        try:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise UsageError(f"--out {out}: cannot create the run's lock file {path}: "
                             f"{error.strerror or error}") from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 200, 0).decode("utf-8", errors="replace").split()
            os.close(descriptor)
            who = f"pid {holder[0]} on {holder[1]}" if len(holder) == 2 else "pid not yet written"
            raise UsageError(f"--out {out} is in use by another `archspec train` ({who}); wait for it to "
                             "finish, or choose another --out") from None
        except OSError:  # a file system without locks (some network ones): run unlocked
            os.close(descriptor)
            return None
        if _names(descriptor, path):
            break
        os.close(descriptor)  # the holder removed the file between our open and our lock
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
    # With the lock held no other archspec run writes here: every temporary file older than the lock
    # whose writer has gone is a leftover of a run that was killed mid-write.
    for part in files.stale_parts(out, older_than=os.fstat(descriptor).st_mtime):
        part.unlink(missing_ok=True)
    return RunLock(path, descriptor)


def _names(descriptor: int, path: Path) -> bool:
    """Whether `path` still names the file open as `descriptor`."""
    try:
        named = path.stat()
    except FileNotFoundError:
        return False
    opened = os.fstat(descriptor)
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


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
