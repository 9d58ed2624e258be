"""Writing a file so that it is never seen half-written: every file archspec writes goes through here.

The content goes to a temporary file beside the target, is flushed to disk, and is then renamed onto
the target (`os.replace` is atomic on one file system). A write that fails or is interrupted leaves
no temporary file behind, and the target as it was. Callers turn `OSError` into their own errors.

Only a regular file is ever replaced: a target that exists as anything else (a folder, a device such
as /dev/full, a FIFO, a socket) is refused with `NotARegularFile`. A symbolic link is written
through: its regular-file target is replaced and the link stays.

A process killed outright (kill -9) cannot remove its temporary file, `.NAME.RANDOM.pidPID.part.SUFFIX`;
`stale_parts` finds those whose writer is gone, for a run directory to remove when a run starts.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

# The writer's pid is in the name so that a later run can tell a dead writer's file from a live one's.
_PART = re.compile(r"^\..+\.part(\.[^.]*)?$")
_PART_PID = re.compile(r"\.pid(\d+)\.part(\.[^.]*)?$")


class NotARegularFile(OSError):
    """The target exists and is not a regular file (nor a symbolic link to one): never replaced."""

    def __init__(self, target: Path, description: str):
        super().__init__(errno.EINVAL, description, str(target))


def regular_file_target(target: Path) -> Path:
    """The path to replace when writing `target`: `target` itself, or for a symbolic link the regular
    file it points to (written through, the link stays). NotARegularFile for anything else."""
    try:
        mode = target.lstat().st_mode
    except FileNotFoundError:
        return target
    if stat.S_ISREG(mode):
        return target
    if not stat.S_ISLNK(mode):
        raise NotARegularFile(target, f"it is {_kind(mode)}, not a regular file")
    try:
        destination = target.resolve(strict=True)
    except FileNotFoundError:
        raise NotARegularFile(target, f"it is a symbolic link to {os.readlink(target)}, which does not "
                              "exist") from None
    except (RuntimeError, OSError):  # Python < 3.13 raises RuntimeError for a loop of links
        raise NotARegularFile(target, "it is a symbolic link that leads to no file (a loop of "
                              "links)") from None
    if not destination.is_file():
        raise NotARegularFile(target, f"it is a symbolic link to {destination}, which is "
                              f"{_kind(destination.stat().st_mode)}, not a regular file")
    return destination


def _kind(mode: int) -> str:
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
             (stat.S_ISSOCK, "a socket"))
    return next((name for test, name in kinds if test(mode)), "not a regular file")


@contextmanager
def staged(target: Path) -> Iterator[Path]:
    """A fresh temporary path beside `target` (same suffix, so that writers that look at it are
    content) for the caller to write; moved onto `target` when the block ends without an error.
    For a symbolic link `target`, the file it points to is replaced (see `regular_file_target`)."""
    target = regular_file_target(target)
    temporary = _temporary(target)
    try:
        yield temporary
        _flush_to_disk(temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def _temporary(target: Path) -> Path:
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.",
                                    suffix=f".pid{os.getpid()}.part{target.suffix}", dir=target.parent)
    os.close(handle)
    try:
        os.chmod(name, 0o666 & ~_umask())  # mkstemp makes 0600; these are ordinary files
    except OSError:
        os.unlink(name)
        raise
    return Path(name)


def write_with(target: Path, write: Callable[[IO[Any]], None], binary: bool = True) -> None:
    """Call `write(file)` on an open temporary file, then move it onto `target`."""
    mode, options = ("wb", {}) if binary else ("w", {"encoding": "utf-8"})
    with staged(target) as temporary, open(temporary, mode, **options) as file:
        write(file)


def write_text(target: Path, text: str) -> None:
    write_with(target, lambda file: file.write(text), binary=False)


def write_texts(folder: Path, texts: Iterable[tuple[str, str]]) -> None:
    """Files `folder / name`, each as `write_text` writes one, flushed to disk together: every text
    goes to its temporary file, one `os.sync()` flushes them all, then each is renamed onto its
    target. `archspec sample` writes thousands of small files, and one fsync each took ten times as
    long as drawing and checking them. A failure leaves no temporary file and no target changed
    after it."""
    if not hasattr(os, "sync"):  # not POSIX: one flush each
        for name, text in texts:
            write_text(folder / name, text)
        return
    staged_files: list[tuple[Path, Path]] = []
    try:
        for name, text in texts:
            target = regular_file_target(folder / name)
            staged_files.append((_new_temporary(target, text.encode("utf-8")), target))
        os.sync()
        for temporary, target in staged_files:
            os.replace(temporary, target)
    finally:
        for temporary, _ in staged_files:
            temporary.unlink(missing_ok=True)


def _new_temporary(target: Path, content: bytes) -> Path:
    """A new temporary file beside `target` (named as `staged` names them) holding `content`, created
    with the umask's permissions: one open, where mkstemp and chmod take three calls."""
    for _ in range(100):
        path = target.parent / f".{target.name}.{secrets.token_hex(6)}.pid{os.getpid()}.part{target.suffix}"
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        except FileExistsError:
            continue
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(content)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(target.parent))


def stale_parts(folder: Path, older_than: float) -> list[Path]:
    """Temporary files of `staged` in `folder` left by writers that are gone: last changed before
    `older_than` (a time on the file system's clock) and written by a process no longer running (or
    by an older archspec that wrote no pid in the name)."""
    found = []
    for path in folder.iterdir():
        if not _PART.match(path.name):
            continue
        pid = _PART_PID.search(path.name)
        try:
            old = path.lstat().st_mtime < older_than
        except FileNotFoundError:
            continue
        if old and (pid is None or not _running(int(pid.group(1)))):
            found.append(path)
    return found


def _running(pid: int) -> bool:
    if pid == os.getpid() or os.name != "posix":  # elsewhere signal 0 is no harmless probe
        return True
    if pid < 1:
        return False
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:  # it exists, and belongs to another user
        return True
    return True


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
