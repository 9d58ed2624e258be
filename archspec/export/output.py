"""Writing an export: the target is checked before any work, and replaced in one step at the end.

Every format writes to a temporary file in the target's folder, which is moved onto the target only
once it is complete (and, for ONNX, checked). An export that fails or is interrupted leaves nothing:
no half-written file, and an existing file at the target is left as it was.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from archspec import files
from archspec.export import ExportError


def check_target(path: Path) -> None:
    """Refuses a target that cannot be written, before the (possibly slow) export starts. A symbolic
    link is written through to the regular file it points to; anything else but a regular file (a
    device, a FIFO, a socket) is refused, never replaced."""
    if path.is_dir():
        raise ExportError(f"{path} is a folder; give the path of a file to write, e.g. {path / 'model'}")
    try:
        path = files.regular_file_target(path)
    except files.NotARegularFile as error:
        raise ExportError(f"cannot write {error.filename}: {error.strerror}; give the path of a regular "
                          "file to write") from None
    folder = path.parent
    if not folder.is_dir():
        raise ExportError(f"cannot write {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ExportError(f"cannot write {path}: no permission to create files in {folder}")
    if path.exists() and not os.access(path, os.W_OK):
        raise ExportError(f"cannot write {path}: the file exists and is read-only")


@contextmanager
def staged(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` (same suffix) for the writer; moved onto `path` on success."""
    check_target(path)
    try:
        with files.staged(path) as temporary:
            yield temporary
            if not temporary.is_file() or (temporary.stat().st_size == 0):
                raise ExportError(f"internal error: the exporter wrote nothing to {temporary}")
    except OSError as error:
        raise ExportError(f"cannot write {path}: {error.strerror or error}") from error


def write_text(path: Path, text: str) -> None:
    with staged(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
