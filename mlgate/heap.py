"""Garbage-collector policy of mlgate's own processes (the CLI, the gateway); a library user's process is untouched.

Importing MLflow leaves a few hundred thousand long-lived objects. Python's collector walks them
again and again while they are created (about 0.6 s of a `mlgate rollback`), once more when the
interpreter exits (about 0.9 s), and in a server on every full collection (100-300 ms stalls).
None of them is ever garbage. So: a command defers collection while it imports, then freezes
what exists (frozen objects are still freed by reference counting; only the cycle scans skip
them) and collects as usual from there on; a server freezes once its models are loaded.
"""

from __future__ import annotations

import atexit
import gc
import threading

_deferred = False
SAFETY_SECONDS = 5.0  # collection resumes by then even if nothing called loaded()


def defer_collection() -> None:
    """For a command-line process: no collection during the imports, nothing walked at exit."""
    global _deferred
    if _deferred:
        return
    _deferred = True
    gc.disable()
    atexit.register(gc.freeze)  # the interpreter's final collection then skips everything
    timer = threading.Timer(SAFETY_SECONDS, loaded)
    timer.daemon = True
    timer.start()


def loaded() -> None:
    """MLflow is imported and connected: freeze the heap so far and collect as usual from here on."""
    global _deferred
    if not _deferred:
        return
    _deferred = False
    gc.freeze()
    gc.enable()


def settle() -> None:
    """For a server process whose models are loaded: collect once, freeze the rest, collect as usual."""
    loaded()
    gc.collect()
    gc.freeze()
    gc.enable()
