"""A throwaway HAProxy on loopback in front of pinned gateways (`mlgate serve NAME --version V`), and clients of it.

Used by the tests, the benchmark and `make demo DEMO_ROUTER=haproxy`; the layout is the one
docs/guides/haproxy.md describes: one backend per model, the pool of version V the servers ``vV``.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

INSTALL_HINT = "install HAProxy with `apt-get install haproxy` (Debian/Ubuntu; .ci/run does it), or set HAPROXY_BIN"
VERSION_HEADER = "X-Mlgate-Model-Version"


def find_haproxy() -> str | None:
    """The haproxy binary: $HAPROXY_BIN, the PATH, else Debian's /usr/sbin/haproxy."""
    for candidate in (os.environ.get("HAPROXY_BIN"), shutil.which("haproxy"), "/usr/sbin/haproxy"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, seconds: float = 90.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until GET ``url`` answers 200; a process that exits meanwhile is an error."""
    host, _, rest = url.removeprefix("http://").partition("/")
    name, _, port = host.partition(":")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the process behind {url} exited with {proc.returncode}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            conn = http.client.HTTPConnection(name, int(port), timeout=2)
            conn.request("GET", "/" + rest)
            if conn.getresponse().status == 200:
                conn.close()
                return
            conn.close()
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {seconds:g} s")


class PinnedGateway:
    """`mlgate serve NAME --version V` on a free loopback port, as its own process (version None: `mlgate serve
    NAME`, a gateway following the registry's aliases)."""

    def __init__(self, name: str, version: str | None, env: dict[str, str], log: Path) -> None:
        self.name, self.env, self.log = name, env, log
        self.version = None if version is None else str(version)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> PinnedGateway:
        mlgate = str(Path(sys.executable).parent / "mlgate")
        command = [mlgate, "serve", self.name, "--port", str(self.port)]
        command += ["--version", self.version] if self.version is not None else []
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=self.env)
        return self

    def wait(self, seconds: float = 300.0) -> None:
        try:
            wait_http(f"{self.url}/ping", seconds, self.proc)
        except RuntimeError as exc:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"pinned gateway v{self.version}: {exc}\n{tail}") from None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None


def haproxy_config(admin_socket: str, port: int, backend: str, pools: dict[str, list[str]], production: str) -> str:
    """haproxy.cfg for one model: a frontend on ``port``, a backend whose pool of version V is the servers vV,
    vV_2, ... at ``pools[V]`` (host:port); ``production``'s pool starts with all the weight."""
    lines = [
        "global",
        f"    stats socket {admin_socket} mode 600 level admin",
        "    log stderr format raw local0 warning",
        "defaults",
        "    mode http",
        "    log global",
        "    timeout connect 2s",
        "    timeout client 30s",
        "    timeout server 30s",
        "    timeout check 5s",  # a busy machine answers /ping late: no flapping pool mid-test
        "    retries 2",
        "    option redispatch",
        "frontend mlgate",
        f"    bind 127.0.0.1:{port}",
        f"    default_backend {backend}",
        f"backend {backend}",
        "    balance roundrobin",
        "    option httpchk GET /ping",
    ]
    for version, addresses in pools.items():
        for i, address in enumerate(addresses):
            name = f"v{version}" if i == 0 else f"v{version}_{i + 1}"
            weight = 100 if version == production else 0
            lines.append(f"    server {name} {address} weight {weight} check inter 2s fall 3 rise 1")
    return "\n".join(lines) + "\n"


class HAProxy:
    """haproxy in the foreground (-db) on a free loopback port, its admin socket in a private temporary folder."""

    def __init__(self, backend: str, pools: dict[str, list[str]], production: str, binary: str | None = None) -> None:
        self.binary = binary or find_haproxy() or "haproxy"
        self.root = Path(tempfile.mkdtemp(prefix="mlgate-hx-"))  # short: a unix socket path is at most 107 bytes
        self.socket = str(self.root / "admin.sock")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.backend = backend
        self.config = self.root / "haproxy.cfg"
        self.config.write_text(haproxy_config(self.socket, self.port, backend, pools, production))
        self.log = self.root / "haproxy.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, seconds: float = 20.0) -> HAProxy:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([self.binary, "-db", "-f", str(self.config)], stdout=out, stderr=out)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"haproxy exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(OSError):
                if self.command("show info"):
                    return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"haproxy's admin socket {self.socket} did not answer within {seconds:g} s")

    def command(self, line: str) -> str:
        """One runtime API command, answered."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(self.socket)
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None
        shutil.rmtree(self.root, ignore_errors=True)


class Client:
    """One keep-alive HTTP connection that posts a scoring request and notes the answering version."""

    def __init__(self, url: str, body: bytes, timeout: float = 10.0) -> None:
        host, _, port = url.removeprefix("http://").partition(":")
        self.host, self.port, self.body, self.timeout = host, int(port), body, timeout
        self.conn: http.client.HTTPConnection | None = None

    def post(self) -> str | None:
        """The answering version of one request; None for a failed one (an error status or no answer)."""
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
                self.conn.connect()  # without TCP_NODELAY, Nagle and delayed ACKs add ~40 ms to each request
                self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.conn.request("POST", "/invocations", body=self.body, headers={"Content-Type": "application/json"})
            answer = self.conn.getresponse()
            answer.read()
            return answer.getheader(VERSION_HEADER) if answer.status == 200 else None
        except (OSError, http.client.HTTPException):
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            return None


def observe(url: str, body: bytes, requests: int) -> Counter[str | None]:
    """Send ``requests`` scoring requests one after another; how many each version answered (None: failed)."""
    client = Client(url, body)
    return Counter(client.post() for _ in range(requests))


class Load:
    """Steady scoring traffic from a background thread, counting answers by version and failures."""

    def __init__(self, url: str, body: bytes, pause: float = 0.002) -> None:
        self.client = Client(url, body)
        self.pause = pause
        self.answers: Counter[str | None] = Counter()
        self.stamps: list[tuple[float, str | None]] = []  # (monotonic time, answering version) of each request
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="mlgate-load", daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            version = self.client.post()
            self.answers[version] += 1
            self.stamps.append((time.monotonic(), version))
            if self.pause:
                time.sleep(self.pause)

    @property
    def failed(self) -> int:
        return self.answers[None]

    @property
    def sent(self) -> int:
        return sum(self.answers.values())

    def start(self) -> Load:
        self._thread.start()
        return self

    def stop(self) -> Load:
        self._stop.set()
        self._thread.join(timeout=30)
        return self
