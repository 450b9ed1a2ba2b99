"""Alert test helpers: a real webhook receiver on loopback and an owners.yaml routing to it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import yaml

from mlgate.config import Settings

OWNER = "ml-platform@example.com"
SECRET = "s3cret-for-tests"


@dataclass
class Receiver:
    """A real HTTP webhook receiver on loopback that answers with a scripted list of status codes."""

    url: str
    statuses: list[int] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            code = state.statuses.pop(0) if state.statuses else 200
            state.received.append({"path": self.path, "body": body, "headers": dict(self.headers), "answered": code})
            self.send_response(code)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


def write_owners(settings: Settings, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings.config_dir is not None
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", SECRET)
    owners = {
        "timezone": "Europe/Paris",
        "hours": {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "18:00"},
        "targets": {
            "team-slack": {"kind": "slack", "url": f"{url}/slack"},
            "pager": {"kind": "json", "url": f"{url}/pager", "secret_env": "TEST_WEBHOOK_SECRET"},
        },
        "owners": {
            OWNER: {
                "business_hours": {"person": "alice@example.com", "targets": ["team-slack"]},
                "out_of_hours": {"person": "ml-oncall", "targets": ["pager"], "min_severity": "critical"},
                "escalation": {"after": "30m", "person": "head-of-ml@example.com", "targets": ["pager"]},
            }
        },
    }
    (settings.config_dir / "owners.yaml").write_text(yaml.safe_dump(owners))
