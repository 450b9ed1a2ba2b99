"""Helpers shared by the serving and smoke tests: a module-wide registry with registered iris versions."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from mlgate import api
from mlgate.registry import Registry
from mlgate.testing import throwaway_settings, tiny_training_data, write_card

NAME = "iris"
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def module_registry(folder: Path, template: tuple[Path, str], versions: int = 2, **overrides: object) -> Registry:
    """A private copy of the template store with ``versions`` registered versions of NAME; v1 is production."""
    source, uri = template
    store = folder / "store"
    store.mkdir(parents=True, exist_ok=True)
    shutil.copy(source / "mlflow.db", store / "mlflow.db")
    settings = throwaway_settings(store, artifact_root=str(store / "artifacts"), **overrides)
    registry = Registry.from_settings(settings)
    card = write_card(folder / "card.yaml")
    for _ in range(versions):
        api.register(NAME, uri, card, registry=registry)
    registry.set_alias(NAME, "production", "1")
    return registry


def rows(n: int = 3) -> pd.DataFrame:
    """The first ``n`` iris rows, as a client would send them."""
    x, _ = tiny_training_data()
    return x.head(n).reset_index(drop=True)


def split_body(frame: pd.DataFrame) -> dict[str, object]:
    return {"dataframe_split": {"columns": list(frame.columns), "data": frame.to_numpy().tolist()}}


_CLIENT = r"""
import http.client, json, socket, sys, urllib.parse
url, n, prefix, body = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4].encode()
parsed = urllib.parse.urlparse(url)
conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
conn.connect()
conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
out = []
for i in range(n):
    headers = {"Content-Type": "application/json"}
    if prefix:
        headers["X-Mlgate-Request-Key"] = prefix + str(i)
    conn.request("POST", "/invocations", body=body, headers=headers)
    answer = conn.getresponse()
    answer.read()
    out.append([answer.status, answer.getheader("X-Mlgate-Model-Version"), answer.getheader("X-Mlgate-Route")])
print(json.dumps(out))
"""


def drive(url: str, n: int, key_prefix: str = "") -> list[tuple[int, str, str]]:
    """Send ``n`` one-row requests from another process (one keep-alive connection); (status, version, route)."""
    import json
    import subprocess
    import sys

    body = json.dumps(split_body(rows(1)))
    done = subprocess.run(
        [sys.executable, "-c", _CLIENT, url, str(n), key_prefix, body], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return [tuple(x) for x in json.loads(done.stdout)]  # type: ignore[misc]
