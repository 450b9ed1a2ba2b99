"""One writer at a time on the alert state file: an exclusive ``flock`` held across each load-change-save.

Two monitoring passes (cron jobs, two machines on one shared project folder) that fire or resolve at
the same moment would otherwise each read the state, change it and write it whole, and the second
write would drop the first one's alert. The lock is re-entrant within a process (fire may flush).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
_held: dict[str, int] = {}  # lock path -> depth, in this process
_fds: dict[str, int] = {}
_guard = threading.RLock()


@contextlib.contextmanager
def state_lock(state_path: Path) -> Iterator[None]:
    """Hold ``<state>.lock`` exclusively (waits for another process or thread that holds it)."""
    path = str(state_path.with_suffix(".lock"))
    with _guard:  # threads of one process queue here; processes queue on the flock
        if _held.get(path, 0) == 0:
            state_path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX)
            _fds[path] = fd
        _held[path] = _held.get(path, 0) + 1
        try:
            yield
        finally:
            _held[path] -= 1
            if _held[path] == 0:
                fd = _fds.pop(path)
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)


def exclusive(method: F) -> F:
    """Run an AlertRouter method holding its state file's lock."""

    @functools.wraps(method)
    def locked(self: Any, *args: Any, **kwargs: Any) -> Any:
        with state_lock(self.state_path):
            return method(self, *args, **kwargs)

    return locked  # type: ignore[return-value]
