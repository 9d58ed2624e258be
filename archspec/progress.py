"""Progress for long work outside training: `archspec compile --check-shapes`, `archspec export`.

One blocking call (a forward pass of a large network, torch.onnx.export) gives no steps to count, so
`activity` shows what is being done and the seconds spent, redrawn every second by a background
thread, on stderr and only when stderr is a terminal (a log gets nothing: the command's own result
line says what was done).
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from typing import TextIO

REDRAW_SECONDS = 1.0


@contextlib.contextmanager
def activity(command: str, doing: str, stream: TextIO | None = None,
             enabled: bool | None = None) -> Iterator[None]:
    """`archspec export: writing ONNX... 12s` while the body runs; the line is cleared after."""
    stream = stream or sys.stderr
    if not (stream.isatty() if enabled is None else enabled):
        yield
        return
    began = time.monotonic()
    done = threading.Event()

    def draw() -> None:
        stream.write(f"\rarchspec {command}: {doing}... {time.monotonic() - began:.0f}s\x1b[K")
        stream.flush()

    def redraw() -> None:
        while not done.wait(REDRAW_SECONDS):
            draw()

    draw()
    painter = threading.Thread(target=redraw, daemon=True)
    painter.start()
    try:
        yield
    finally:
        done.set()
        painter.join()
        stream.write("\r\x1b[K")
        stream.flush()
