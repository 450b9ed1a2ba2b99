"""The serving benchmarks' client and load loop: the 1-row iris body over keep-alive connections, records per request.

``drive`` is the one load loop: ``clients`` threads, one keep-alive connection each, posting back to back
(closed loop) or paced at ``rate`` requests a second per client, until a request count, a duration or a
stop event; one record per request, ``[client, sent, ms, status, version]``: ``sent`` is the wall clock
(``time.time()``) when the request went out, ``ms`` how long its answer took, ``status`` the HTTP status
(0: no answer), ``version`` the answering version (``X-Mlgate-Model-Version``) or the error's name.

``Background`` runs ``drive`` in threads of this process until stopped; ``LoadProcess`` in a separate
process (``python bench/loadgen.py``), so the client does not share the gateway's interpreter; it writes
the records as JSON to a file, not a pipe, since they outgrow a pipe's buffer.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

BODY = json.dumps(
    {
        "dataframe_split": {
            "columns": ["sepal_length", "sepal_width", "petal_length", "petal_width"],
            "data": [[5.1, 3.5, 1.4, 0.2]],
        }
    }
)
CLIENT, SENT, MS, STATUS, VERSION = range(5)  # the fields of one record


class Client:
    """One keep-alive connection to a scoring endpoint; reconnects on the next request after an error."""

    def __init__(self, url: str, timeout: float) -> None:
        parsed = urllib.parse.urlparse(url)
        self.host, self.port, self.timeout = parsed.hostname, parsed.port, timeout
        self.conn: http.client.HTTPConnection | None = None

    def post(self, payload: bytes) -> tuple[int, str | None, str | None]:
        """POST /invocations: (status, answering version, error name); status 0 when no answer came."""
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
                self.conn.connect()
                self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.conn.request("POST", "/invocations", body=payload, headers={"Content-Type": "application/json"})
            answer = self.conn.getresponse()
            answer.read()
            return answer.status, answer.getheader("X-Mlgate-Model-Version"), None
        except (OSError, http.client.HTTPException) as exc:
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            return 0, None, type(exc).__name__


def drive(
    url: str,
    clients: int,
    rate: float = 0.0,
    seconds: float | None = None,
    per_client: int | None = None,
    stop: threading.Event | None = None,
    catch_up: bool = False,
    body: str = BODY,
    timeout: float = 30.0,
) -> list[list[Any]]:
    """Post from ``clients`` keep-alive connections until each sent ``per_client`` requests, ``seconds`` passed or
    ``stop`` is set (whichever comes first); the records of every request, client by client.

    ``rate``: requests a second per client, 0 as fast as answers come (closed loop). Paced, a late request
    goes out at once and the next one a full interval later; with ``catch_up`` the schedule is fixed
    (request n at n / rate), so requests delayed by a stall go out back to back until it is met again.
    """
    payload = body.encode()
    out: list[list[list[Any]]] = [[] for _ in range(clients)]
    start = time.perf_counter()
    halt = stop if stop is not None else threading.Event()

    def worker(i: int) -> None:
        client = Client(url, timeout)
        mine, due, sent = out[i], start, 0
        while not halt.is_set() and (per_client is None or sent < per_client):
            now = time.perf_counter()
            if seconds is not None and now - start >= seconds:
                return
            if rate > 0:
                due = start + sent / rate if catch_up else max(due, now - 1 / rate)
                if due > now:
                    time.sleep(due - now)
                due += 1 / rate
            sent_at, t0 = time.time(), time.perf_counter()
            status, version, error = client.post(payload)
            mine.append([i, sent_at, (time.perf_counter() - t0) * 1000, status, version or error])
            sent += 1

    threads = [threading.Thread(target=worker, args=(i,), name=f"load-{i}", daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [r for mine in out for r in mine]


def answered(record: list[Any]) -> float:
    """The wall clock when a record's answer came."""
    return float(record[SENT]) + float(record[MS]) / 1000


def failed(records: list[list[Any]]) -> int:
    """Requests without a 200 answer."""
    return sum(1 for r in records if r[STATUS] != 200)


class Background:
    """``drive`` in threads of this process, from ``start`` until ``stop`` (which returns the records)."""

    def __init__(self, url: str, clients: int = 1, rate: float = 0.0, body: str = BODY) -> None:
        self._stop = threading.Event()
        self.records: list[list[Any]] = []
        run = lambda: self.records.extend(drive(url, clients, rate, stop=self._stop, body=body))  # noqa: E731
        self._thread = threading.Thread(target=run, name="load", daemon=True)

    def start(self) -> Background:
        self._thread.start()
        return self

    def stop(self) -> list[list[Any]]:
        self._stop.set()
        self._thread.join(timeout=60)
        return self.records


class LoadProcess:
    """``drive`` in its own process (``python bench/loadgen.py``); ``until_stopped``: it runs until ``stop``."""

    def __init__(
        self,
        url: str,
        clients: int,
        rate: float = 0.0,
        seconds: float | None = None,
        per_client: int | None = None,
        catch_up: bool = False,
        until_stopped: bool = False,
    ) -> None:
        args = [sys.executable, str(Path(__file__).resolve()), url, str(clients), "--rate", str(rate)]
        args += ["--seconds", str(seconds)] if seconds is not None else []
        args += ["--requests", str(per_client)] if per_client is not None else []
        args += ["--catch-up"] if catch_up else []
        args += ["--until-stdin-closes"] if until_stopped else []
        self.sink = tempfile.TemporaryFile("w+")  # noqa: SIM115 - a file, not a pipe: records outgrow a pipe
        stdin = subprocess.PIPE if until_stopped else subprocess.DEVNULL
        self.proc = subprocess.Popen(args, stdin=stdin, stdout=self.sink, stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        ready = self.proc.stderr.readline()
        if ready.strip() != "ready":
            raise RuntimeError(f"the load generator did not start: {ready}{self.proc.stderr.read()[-2000:]}")

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 120.0) -> list[list[Any]]:
        """Stop it (close its stdin) or wait for its end; its records."""
        _, err = self.proc.communicate(input="" if self.proc.stdin is not None else None, timeout=timeout)
        if self.proc.returncode != 0:
            raise RuntimeError(f"the load generator failed: {err[-2000:]}")
        with self.sink:
            self.sink.seek(0)
            return list(json.loads(self.sink.read()))


def main() -> int:
    parser = argparse.ArgumentParser(description="Post 1-row iris requests; print the records as JSON.")
    parser.add_argument("url")
    parser.add_argument("clients", type=int)
    parser.add_argument("--rate", type=float, default=0.0, help="requests a second per client; 0: closed loop")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--requests", type=int, default=None, help="per client")
    parser.add_argument("--catch-up", action="store_true", help="a fixed schedule: late requests are bunched")
    parser.add_argument("--until-stdin-closes", action="store_true")
    args = parser.parse_args()
    stop = threading.Event()
    if args.until_stdin_closes:
        threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    print("ready", file=sys.stderr, flush=True)
    records = drive(args.url, args.clients, args.rate, args.seconds, args.requests, stop, args.catch_up)
    print(json.dumps(records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
