"""What the static check remembers for the rest of a process: work done once per expression text,
per block or layer kind, per arrangement of dotted names, and the evaluated block figures. Each
module that keeps such a memo registers how to empty it (`forgettable`), so that `forget_all` gives
the next check what the first check of a fresh process does (benchmarks/static_check.py's
`check, nothing cached`) without any module knowing another's memos."""

from __future__ import annotations

from collections.abc import Callable

_FORGETTERS: list[Callable[[], object]] = []


def forgettable(clear: Callable[[], object]) -> None:
    """Registers `clear`, which empties one of the process's memos."""
    _FORGETTERS.append(clear)


def forget_all() -> None:
    for clear in _FORGETTERS:
        clear()
