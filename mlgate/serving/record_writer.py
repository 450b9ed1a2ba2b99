"""The prediction record's writer process: the gateway hands it answered requests through a pipe.

Why a process: a recorder thread in the serving process shares its GIL. Every SQL call releases
and re-takes the GIL, and each re-take waits out the busy serving thread's switch interval, so
a thread fell thousands of requests behind under load, and the frames it held made the garbage
collector's full passes grow to hundreds of milliseconds. Here the serving thread only pickles a
compact tuple and does one non-blocking write to a pipe (microseconds); this process decodes,
batches and writes to the store, trimming each version to its retention.

Nothing blocks a request: when the pipe is full the bytes wait in a bounded buffer, and past that
bound records are dropped and counted. If the writer dies, records are dropped (counted) and it
is started again. The writer reports progress as JSON lines on its stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from typing import Any

from mlgate.serving.record import PredictionStore, Served

log = logging.getLogger("mlgate.serving")

_HEADER = struct.Struct("<I")
URL_ENV = "MLGATE_RECORD_URL"  # passed in the environment, not argv: a store URL may hold a password
RETENTION_ENV = "MLGATE_RECORD_RETENTION_ROWS"
RESTART_AFTER_SECONDS = 5.0
MAX_BATCH = 1000  # records per transaction
MAX_DELAY_SECONDS = 0.5  # a record waits at most this long for its batch to be written
HAND_OVER_SECONDS = 0.005  # the serving side gathers this long, then hands everything over in one write
MAX_QUEUED = 100_000  # items gathered for the next hand-over; past this they are dropped and counted


class RecordWriter:
    """Hands answered requests to a writer process without ever blocking the caller."""

    WORKER = "mlgate.serving.record_writer"  # the module run as the process (`python -m`); see serving/shadow.py
    KIND = "recs"  # the message that hands a list of items over

    def __init__(self, url: str, retention_rows: int, max_pending_bytes: int = 32 << 20) -> None:
        self.url = url
        self.retention_rows = int(retention_rows)
        self.max_pending_bytes = max_pending_bytes
        self.written = 0  # rows the writer has committed
        self.failures = 0  # batches the writer could not commit
        self.dropped = 0  # requests never handed over (buffer full, writer down)
        self._lock = threading.Lock()
        self._progress = threading.Condition(self._lock)
        self._pending = bytearray()
        self._frames: deque[list[Any]] = deque()  # [bytes left to write, items in it] per pending frame
        self._queue: list[Any] = []  # items gathered for the next hand-over
        self._scheduled = False  # a hand-over is due on the event loop
        self._flush_seq = 0
        self._acked_seq = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._died_at: float | None = None
        self._closed = False
        self._start()

    # --- the serving side ---------------------------------------------------------------------------
    def submit(self, item: Served) -> None:
        """Hand one answered request over; when it cannot be taken it is dropped and counted."""
        self._enqueue(_compact(item))

    def _enqueue(self, item: Any) -> bool:
        """Gather one item for the next hand-over (within HAND_OVER_SECONDS on an event loop, at once
        elsewhere): one pickle and one pipe write for every item of a busy moment. False when dropped."""
        with self._lock:
            if self._closed or len(self._queue) >= MAX_QUEUED:
                self.dropped += 1
                return False
            self._queue.append(item)
            if self._scheduled:
                return True
            self._scheduled = True
        try:
            asyncio.get_running_loop().call_later(HAND_OVER_SECONDS, self._hand_over)
        except RuntimeError:  # not on an event loop (a script, a test): hand it over now
            self._hand_over()
        return True

    def _hand_over(self) -> None:
        with self._lock:
            self._hand_over_locked()

    def _hand_over_locked(self) -> None:
        self._scheduled = False
        items, self._queue = self._queue, []
        if items:
            data = pickle.dumps((self.KIND, items), protocol=pickle.HIGHEST_PROTOCOL)
            if not self._send(_HEADER.pack(len(data)) + data, records=len(items)):
                self.dropped += len(items)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def flush(self, timeout: float = 10.0) -> bool:
        """Block until everything submitted so far is written (tests, shutdown); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            self._hand_over_locked()
            self._flush_seq += 1
            seq = self._flush_seq
            data = pickle.dumps(("flush", seq))
            if not self._send(_HEADER.pack(len(data)) + data):
                return False
            while self._acked_seq < seq:
                self._drain(blocking_until=deadline)
                left = deadline - time.monotonic()
                if left <= 0 or not self.running:
                    return self._acked_seq >= seq
                self._progress.wait(min(left, 0.05))
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Write what is pending, then stop the writer process."""
        self.flush(timeout)
        with self._lock:
            self._closed = True
            proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()  # end of input: the writer commits and exits
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    # --- internals (called with the lock held) --------------------------------------------------------
    def _start(self) -> None:
        env = {**os.environ, URL_ENV: self.url, RETENTION_ENV: str(self.retention_rows)}
        proc = subprocess.Popen(
            [sys.executable, "-m", self.WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        assert proc.stdin is not None and proc.stdout is not None
        os.set_blocking(proc.stdin.fileno(), False)
        self._proc = proc
        self._pending.clear()
        self._frames.clear()
        threading.Thread(target=self._listen, args=(proc,), name="mlgate-record-progress", daemon=True).start()

    def _send(self, chunk: bytes, records: int = 0) -> bool:
        if self._closed:
            return False
        if not self.running and not self._restart():
            return False
        if len(self._pending) + len(chunk) > self.max_pending_bytes:
            self._drain()
            if len(self._pending) + len(chunk) > self.max_pending_bytes:
                return False
        self._pending += chunk
        self._frames.append([len(chunk), records])
        self._drain()
        return True

    def _drain(self, blocking_until: float | None = None) -> None:
        """Write as much of the pending bytes as the pipe takes now (or until ``blocking_until``)."""
        proc = self._proc
        if proc is None or proc.stdin is None:
            return
        fd = proc.stdin.fileno()
        while self._pending:
            try:
                written = os.write(fd, self._pending)
            except BlockingIOError:
                written = 0
            except OSError as exc:
                if exc.errno in (errno.EPIPE, errno.EBADF):
                    self._writer_died()
                    return
                raise
            del self._pending[:written]
            self._account(written)
            if written == 0:
                if blocking_until is None or time.monotonic() >= blocking_until:
                    return
                select.select([], [fd], [], max(0.0, min(0.05, blocking_until - time.monotonic())))

    def _account(self, written: int) -> None:
        frames = self._frames
        while written and frames:
            take = min(written, frames[0][0])
            frames[0][0] -= take
            written -= take
            if frames[0][0] == 0:
                frames.popleft()

    def _writer_died(self) -> None:
        self.dropped += sum(records for _, records in self._frames)  # a frame cut short is lost too
        self._pending.clear()
        self._frames.clear()
        if self._died_at is None:
            self._died_at = time.monotonic()
            log.error("the prediction record writer stopped; records are dropped until it is restarted")

    def _restart(self) -> bool:
        if self._closed:
            return False
        now = time.monotonic()
        if self._died_at is None:
            self._died_at = now
            log.error("the prediction record writer stopped; restarting it in %g s", RESTART_AFTER_SECONDS)
        if now - self._died_at < RESTART_AFTER_SECONDS:
            return False
        self._died_at = None
        self._start()
        log.warning("the prediction record writer was restarted")
        return True

    # --- progress from the writer (its own thread: blocking reads only) --------------------------------
    def _listen(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                report = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                self.written += int(report.get("written", 0))
                self.failures += int(report.get("failed", 0))
                self._acked_seq = max(self._acked_seq, int(report.get("flushed", 0)))
                if self._proc is proc:
                    self._drain()
                self._progress.notify_all()
            self._report(report)
        with self._lock:
            self._progress.notify_all()

    def _report(self, report: dict[str, Any]) -> None:
        """One progress report of the process, after it is counted (a hook: the shadow mirror's load results)."""


SMALL = 256  # arrays up to this many values travel as lists (pickling an array has a fixed cost)


def _compact(item: Served) -> tuple[Any, ...]:
    """The request as plain data: inputs as (columns, values) instead of a DataFrame (cheaper to pickle)."""
    inputs = item.inputs
    table = None
    if inputs is not None and item.status < 400:
        if isinstance(inputs, tuple):  # already (columns, values): the gateway's array path
            table = (inputs[0], _plain(inputs[1]))
        else:
            table = (_names(inputs.columns), _plain(inputs.to_numpy()))
    predictions = item.predictions
    if hasattr(predictions, "to_numpy") and getattr(predictions, "ndim", 2) == 1:
        predictions = predictions.to_numpy()  # a Series
    return (*_meta(item), table, _plain(predictions) if table is not None else None)


def _plain(values: Any) -> Any:
    """A small numpy array as nested lists of Python values; anything else as it is."""
    if getattr(values, "size", SMALL + 1) <= SMALL and getattr(values, "dtype", None) is not None:
        return values.tolist()
    return values


_NAMES: dict[int, tuple[Any, list[str]]] = {}


def _names(columns: Any) -> list[str]:
    """The column names as strings, remembered per (shared, immutable) column Index."""
    known = _NAMES.get(id(columns))
    if known is not None and known[0] is columns:
        return known[1]
    if len(_NAMES) >= 256:
        _NAMES.clear()
    names = [str(c) for c in columns]
    _NAMES[id(columns)] = (columns, names)  # holding the Index keeps its id from being reused
    return names


def _meta(item: Served) -> tuple[Any, ...]:
    return (item.ts, item.model, item.version, item.route, item.request_id, item.request_key, item.status,
            item.latency_ms)  # fmt: skip


def _served(record: tuple[Any, ...]) -> Served:
    ts, model, version, route, request_id, request_key, status, latency_ms, table, predictions = record
    # inputs stay (columns, values): the store writes rows of them without building a DataFrame
    return Served(ts, model, version, route, request_id, request_key, status, latency_ms, table, predictions)


# --- the writer process ------------------------------------------------------------------------------
def main() -> int:
    """Read framed records from stdin until it closes; write them in batches; report on stdout."""
    store = PredictionStore(os.environ[URL_ENV], int(os.environ.get(RETENTION_ENV, "100000")))
    fd = sys.stdin.buffer.fileno()
    out = sys.stdout
    buffer = bytearray()
    batch: list[Served] = []
    begun = 0.0  # when the oldest record of the batch arrived
    flushed = 0
    eof = False
    while not eof:
        wait = None if not batch else max(0.0, begun + MAX_DELAY_SECONDS - time.monotonic())
        readable, _, _ = select.select([fd], [], [], wait)
        if readable:
            chunk = os.read(fd, 1 << 20)
            eof = not chunk
            buffer += chunk
        messages, used = _frames(buffer)
        del buffer[:used]
        for kind, body in messages:
            if kind in ("rec", "recs"):
                if not batch:
                    begun = time.monotonic()
                batch.extend(_served(r) for r in (body if kind == "recs" else [body]))
            else:
                flushed = body
        due = len(batch) >= MAX_BATCH or eof or flushed or time.monotonic() - begun >= MAX_DELAY_SECONDS
        if batch and due:
            written, failed = _write(store, batch)
            batch = []
            out.write(json.dumps({"written": written, "failed": failed, "flushed": flushed}) + "\n")
            out.flush()
            flushed = 0
        elif flushed:
            out.write(json.dumps({"written": 0, "failed": 0, "flushed": flushed}) + "\n")
            out.flush()
            flushed = 0
    store.close()
    return 0


def _frames(buffer: bytearray) -> tuple[list[tuple[str, Any]], int]:
    messages, at = [], 0
    while len(buffer) - at >= _HEADER.size:
        (size,) = _HEADER.unpack_from(buffer, at)
        if len(buffer) - at - _HEADER.size < size:
            break
        start = at + _HEADER.size
        messages.append(pickle.loads(bytes(buffer[start : start + size])))
        at = start + size
    return messages, at


def _write(store: PredictionStore, batch: list[Served]) -> tuple[int, int]:
    try:
        return store.record_many(batch), 0
    except Exception as exc:  # noqa: BLE001 - a broken store must not stop the writer; it is reported
        logging.getLogger("mlgate.serving").warning("prediction record write failed (%d lost): %s", len(batch), exc)
        return 0, 1


if __name__ == "__main__":
    sys.exit(main())
