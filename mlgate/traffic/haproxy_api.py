"""A client of HAProxy's runtime API (the stats socket): send commands, read a backend's servers and weights."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from mlgate.exceptions import TrafficError

MAINTENANCE = 0x01 | 0x02 | 0x04 | 0x20 | 0x40  # FMAINT, IMAINT, CMAINT, RMAINT, HMAINT (management guide)
DRAINING = 0x08 | 0x10  # FDRAIN, IDRAIN: no new requests
STOPPED = 0  # srv_op_state 0: the server is down (its health check fails)
OP_STATES = {0: "DOWN", 1: "STARTING", 2: "UP", 3: "STOPPING"}
MAX_WEIGHT = 256  # absolute weights are 0..256


@dataclass(frozen=True)
class Server:
    """One server of a backend as ``show servers state`` reports it."""

    name: str
    address: str
    port: int
    weight: int  # srv_uweight: the weight set now
    initial_weight: int  # srv_iweight: the weight in haproxy.cfg
    op_state: int  # 0 down, 1 starting, 2 up, 3 stopping
    admin_state: int  # bit mask: maintenance, drain

    @property
    def usable(self) -> bool:
        """True when HAProxy may send it new requests (up, not in maintenance, not draining)."""
        return self.op_state != STOPPED and not self.admin_state & (MAINTENANCE | DRAINING)

    @property
    def condition(self) -> str:
        """UP, DOWN, MAINT or DRAIN, as HAProxy's stats page says it."""
        if self.admin_state & MAINTENANCE:
            return "MAINT"
        if self.admin_state & DRAINING:
            return "DRAIN"
        return OP_STATES.get(self.op_state, str(self.op_state))


class RuntimeAPI:
    """Talks to HAProxy over its stats socket: a unix socket path, or host:port of a TCP one.

    One connection per command line (HAProxy's non-interactive mode answers and closes). Several
    commands joined by ``;`` run one after another inside HAProxy, microseconds apart.
    """

    def __init__(self, address: str, timeout: float = 5.0) -> None:
        self.address = address
        self.timeout = timeout

    def _connect(self) -> socket.socket:
        if ":" in self.address and not self.address.startswith("/"):
            host, _, port = self.address.rpartition(":")
            return socket.create_connection((host.strip("[]"), int(port)), timeout=self.timeout)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.address)
        except BaseException:
            sock.close()
            raise
        return sock

    def send(self, line: str) -> str:
        """Run one command line and return HAProxy's answer; an unreachable socket is a TrafficError."""
        try:
            sock = self._connect()
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise TrafficError(
                f"cannot reach HAProxy's runtime API at {self.address}: {reason}",
                f"check that haproxy runs and its global section has `stats socket {self.address} level admin`, "
                "that this user may open it, and haproxy.socket in mlflow_config/mlgate.yaml",
            ) from None
        chunks: list[bytes] = []
        try:
            with sock:
                sock.sendall(line.encode() + b"\n")
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
        except OSError as exc:
            raise TrafficError(
                f"HAProxy's runtime API at {self.address} did not answer `{line}`: {exc.strerror or exc}",
                f"check haproxy's log; raise haproxy.timeout_seconds (now {self.timeout:g} s) if it is busy",
            ) from None
        return b"".join(chunks).decode(errors="replace")

    def servers(self, backend: str) -> list[Server]:
        """Every server of ``backend`` (``show servers state``); a backend HAProxy does not have is a TrafficError."""
        answer = self.send(f"show servers state {backend}")
        lines = [line for line in answer.splitlines() if line.strip()]
        if not lines or lines[0].strip() != "1":
            raise TrafficError(
                f"HAProxy at {self.address} has no backend {backend!r}: it answered {answer.strip()[:200]!r}",
                "name the backend of this model in haproxy.backend of mlflow_config/mlgate.yaml "
                "(`echo 'show backend' | socat stdio SOCKET` lists them)",
            )
        header = next((line.lstrip("# ").split() for line in lines[1:] if line.startswith("#")), [])
        found = []
        for line in lines[1:]:
            if line.startswith("#"):
                continue
            row = dict(zip(header, line.split(), strict=False))
            found.append(
                Server(
                    name=row["srv_name"],
                    address=row.get("srv_addr", "-"),
                    port=int(row.get("srv_port", "0") or 0),
                    weight=int(row["srv_uweight"]),
                    initial_weight=int(row["srv_iweight"]),
                    op_state=int(row["srv_op_state"]),
                    admin_state=int(row["srv_admin_state"]),
                )
            )
        return found

    def set_weights(self, backend: str, weights: list[tuple[str, int]]) -> None:
        """Set servers' weights in the order given, in one command line (the caller raises weights before it
        lowers others, so some server always keeps one); a refused ``set weight`` is a TrafficError."""
        if not weights:
            return
        line = "; ".join(f"set weight {backend}/{server} {weight}" for server, weight in weights)
        answer = self.send(line).strip()
        if answer:
            hint = "give the stats socket `level admin`" if "ermission" in answer else "check haproxy.cfg"
            raise TrafficError(f"HAProxy at {self.address} refused `{line}`: {' '.join(answer.split())}", hint)
