"""The serving benchmarks' client: the 1-row iris body, posted over one keep-alive connection per client."""

from __future__ import annotations

import http.client
import json
import socket
import urllib.parse

BODY = json.dumps(
    {
        "dataframe_split": {
            "columns": ["sepal_length", "sepal_width", "petal_length", "petal_width"],
            "data": [[5.1, 3.5, 1.4, 0.2]],
        }
    }
)


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
