"""Writing a file so that it is never seen half-written: every file archspec writes goes through here.

The content goes to a temporary file beside the target, is flushed to disk, and is then renamed onto
the target (`os.replace` is atomic on one file system). A write that fails or is interrupted leaves
no temporary file behind, and the target as it was. Callers turn `OSError` into their own errors.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def staged(target: Path) -> Iterator[Path]:
    """A fresh temporary path beside `target` (same suffix, so that writers that look at it are
    content) for the caller to write; moved onto `target` when the block ends without an error."""
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".part{target.suffix}",
                                    dir=target.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; these are ordinary files
        yield temporary
        _flush_to_disk(temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def write_with(target: Path, write: Callable[[IO[Any]], None], binary: bool = True) -> None:
    """Call `write(file)` on an open temporary file, then move it onto `target`."""
    mode, options = ("wb", {}) if binary else ("w", {"encoding": "utf-8"})
    with staged(target) as temporary, open(temporary, mode, **options) as file:
        write(file)


def write_text(target: Path, text: str) -> None:
    write_with(target, lambda file: file.write(text), binary=False)


def _flush_to_disk(path: Path) -> None:
    """So that a crash just after the rename cannot leave an empty file under the target's name."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
