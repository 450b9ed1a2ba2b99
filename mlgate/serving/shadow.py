"""Shadow mirroring: production requests handed, once answered, to the shadow version running in its own process.

The request path only pickles the request's body and does one non-blocking write to a pipe
(microseconds), after the caller has its answer; the shadow version is loaded, called and timed in
a worker process (``mlgate.serving.shadow_worker``, lowest CPU priority), which records its answers in the
prediction record with route ``shadow`` and the production answer's request id. A process, not a
thread: a thread running the shadow model would hold the GIL the serving thread needs, and every
production request arriving meanwhile would wait for it. When the pipe and a bounded buffer are
full, or the worker is down (it is restarted), mirrored requests are dropped and counted, never
delayed; a shadow version that fails to load or to predict changes nothing for production.
"""

from __future__ import annotations

import logging
import pickle
import random
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlgate.serving.record_writer import _HEADER, RecordWriter
from mlgate.serving.router import bucket

if TYPE_CHECKING:
    from mlgate.config import Settings

log = logging.getLogger("mlgate.serving")

MAX_PENDING_BYTES = 8 << 20  # mirrored requests waiting for the worker beyond the pipe; more are dropped


def _frame(message: tuple[Any, ...]) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


class MirrorWorker(RecordWriter):
    """The worker process of one gateway's shadow: told which version to load, then handed mirrored requests.

    It reuses the prediction record writer's transport (framed pickles on a non-blocking pipe, a
    bounded buffer, drops counted, a restart after the process dies, flush); every (re)start loads
    the current version first. ``written`` counts the shadow's recorded rows.
    """

    WORKER = "mlgate.serving.shadow_worker"
    KIND = "reqs"

    def __init__(
        self,
        url: str,
        retention_rows: int,
        settings: Settings,
        name: str,
        version: str,
        on_report: Callable[[dict[str, Any]], None],
        max_pending_bytes: int = MAX_PENDING_BYTES,
    ) -> None:
        self.settings, self.name, self.version, self.on_report = settings, name, str(version), on_report
        super().__init__(url, retention_rows, max_pending_bytes)

    def _start(self) -> None:
        super()._start()
        self._send(_frame(("load", (self.settings, self.name, self.version))))

    def load(self, version: str) -> None:
        """Serve ``version`` as the shadow from the next mirrored request on."""
        with self._lock:
            self._hand_over_locked()  # requests mirrored before the change go to the version they were meant for
            self.version = str(version)
            self._send(_frame(("load", (self.settings, self.name, self.version))))

    def mirror(self, request: tuple[Any, ...]) -> bool:
        """Hand one answered request over (request_id, ts, request_key, body, content_type); False when dropped.

        Requests are gathered and handed over together (one pickle, one pipe write per few milliseconds)."""
        return self._enqueue(request)

    def _report(self, report: dict[str, Any]) -> None:
        self.on_report(report)


class ShadowMirror:
    """Mirrors ``share`` percent of a gateway's production requests to the shadow version, if there is one.

    ``follow`` is called with every new serving state; ``submit`` from the request path after the
    answer is sent. ``on_failed(version, why)`` hears of a shadow version that did not load.
    """

    def __init__(
        self,
        settings: Settings,
        name: str,
        store_url: str | None,
        retention_rows: int,
        on_failed: Callable[[str, str], None] | None = None,
        max_pending_bytes: int = MAX_PENDING_BYTES,
    ) -> None:
        self.settings = settings
        self.name = name
        self.store_url = store_url
        self.retention_rows = retention_rows
        self.on_failed = on_failed
        self.max_pending_bytes = max_pending_bytes
        self.version: str | None = None  # the shadow version mirrored to now
        self.share = 0.0
        self.loaded: str | None = None  # the version the worker has loaded
        self.broken: str | None = None  # the version the worker failed to load: nothing is mirrored to it
        self.mirrored = 0  # requests handed to the worker
        self._dropped_before = 0  # drops counted by workers since stopped
        self._written_before = 0
        self.worker: MirrorWorker | None = None
        self._lock = threading.Lock()
        self._rand = random.Random()

    def follow(self, version: str | None, share: float) -> None:
        """Mirror ``share`` percent of production requests to ``version`` from now on (None: stop mirroring)."""
        if self.store_url is None:  # no prediction record: the shadow's answers would go nowhere
            version = None
        with self._lock:
            self.share = share if version is not None else 0.0
            if version == self.version:
                return
            self.version, self.loaded, self.broken = version, None, None
            worker = self.worker
            if version is None:
                self.worker = None
                if worker is not None:
                    self._dropped_before += worker.dropped
                    self._written_before += worker.written
                    threading.Thread(target=worker.close, args=(10.0,), name="mlgate-shadow-stop", daemon=True).start()
                return
            if worker is not None:
                worker.load(version)
                return
            assert self.store_url is not None
            self.worker = MirrorWorker(
                self.store_url, self.retention_rows, self.settings, self.name, version, self._heard,
                self.max_pending_bytes,
            )  # fmt: skip

    def wants(self, key: str | None) -> bool:
        """Whether to mirror a request: all of them at 100 %, else a stable share of request keys (or draws)."""
        share = self.share
        if share >= 100:
            return True
        position = bucket(key) if key else self._rand.random() * 100.0
        return position < share

    def submit(self, request_id: str, ts: float, key: str | None, body: bytes, content_type: str) -> None:
        """Hand one answered production request to the shadow (never blocks; dropped and counted when full)."""
        worker = self.worker
        if worker is None or self.broken is not None or not self.wants(key):
            return
        self.mirrored += 1
        worker.mirror((request_id, ts, key, body, content_type))

    async def submit_after_answer(
        self, request_id: str, ts: float, key: str | None, body: bytes, content_type: str
    ) -> None:
        """``submit`` as a coroutine, for a response's background task (run once the answer is sent)."""
        self.submit(request_id, ts, key, body, content_type)

    def _heard(self, report: dict[str, Any]) -> None:
        if "loaded" in report:
            self.loaded = str(report["loaded"])
            log.info("%s v%s loaded as the shadow", self.name, self.loaded)
        failed = report.get("load_failed")
        if failed is not None:
            if str(failed) == self.version:
                self.broken = self.version  # stop mirroring now; the gateway drops the shadow at its next poll
            why = str(report.get("why") or "unknown error")
            if self.on_failed is None:
                log.error("%s v%s failed to load as the shadow; production is unaffected: %s", self.name, failed, why)
            else:
                try:
                    self.on_failed(str(failed), why)
                except Exception:  # reporting must never stop the mirror's listener
                    log.exception("reporting the shadow's load failure failed")

    @property
    def dropped(self) -> int:
        """Mirrored requests dropped (buffer full, worker down), since the gateway started."""
        worker = self.worker
        return self._dropped_before + (worker.dropped if worker is not None else 0)

    @property
    def written(self) -> int:
        """Shadow answers recorded, since the gateway started."""
        worker = self.worker
        return self._written_before + (worker.written if worker is not None else 0)

    def flush(self, timeout: float = 10.0) -> bool:
        """Block until every request mirrored so far is answered and recorded (tests, benchmarks)."""
        worker = self.worker
        return True if worker is None else worker.flush(timeout)

    def describe(self) -> dict[str, Any] | None:
        """What /health shows of the shadow, or None without one."""
        worker = self.worker
        if self.version is None or worker is None:
            return None
        return {
            "version": self.version,
            "share": self.share,
            "worker": "ready"
            if self.loaded == self.version
            else "failed to load"
            if self.broken
            else ("loading" if worker.running else "restarting"),
            "mirrored": self.mirrored,
            "recorded_rows": self.written,
            "dropped": self.dropped,
            "write_failures": worker.failures,
        }

    def close(self) -> None:
        """Stop the worker (what it holds is written first, within a few seconds)."""
        with self._lock:
            worker, self.worker, self.version = self.worker, None, None
        if worker is not None:
            worker.close(10.0)
