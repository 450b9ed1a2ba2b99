"""A real HAProxy on loopback in front of real pinned gateways of model ``m``, v1 in production and v2 a candidate.

The gateways are the real ones (uvicorn on free loopback ports, each pinned to its version as `mlgate serve
NAME --version V` pins it), started in this process: two `mlgate serve` processes cost ~16 s of CPU to import,
which the demo (pipelines/demo_haproxy.py) and the benchmark pay instead. Without the haproxy binary the tests
are skipped with how to install it; in CI (``CI`` set) they fail.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from mlgate.config import Settings, load_settings
from mlgate.registry import Registry
from mlgate.serving import running_gateway
from mlgate.testing.haproxy import INSTALL_HINT, HAProxy, find_haproxy
from tests.rollout_support import production_and_candidate
from tests.serving_helpers import rows, split_body

NAME = "m"
BACKEND = f"mlgate_{NAME}"


def need_haproxy() -> str:
    """The haproxy binary; skipped with how to install it when missing, failed in CI."""
    found = find_haproxy()
    if found is None:
        message = f"haproxy not found: {INSTALL_HINT}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def binomial_ok(hits: int, n: int, percent: float, sigmas: float = 4.0) -> bool:
    """``hits`` of ``n`` is within ``sigmas`` standard deviations (plus one) of ``percent`` percent."""
    p = percent / 100
    return abs(hits - n * p) <= sigmas * math.sqrt(n * p * (1 - p)) + 1


@dataclass
class Stack:
    """What the fixture started: HAProxy, the two pools, the registry that routes through HAProxy."""

    haproxy: HAProxy
    gateways: dict[str, str]  # version -> base URL of its pinned gateway
    registry: Registry  # settings from mlgate.yaml: traffic_router haproxy, endpoint = HAProxy's frontend
    v1: str
    v2: str
    body: bytes

    @property
    def url(self) -> str:
        return self.haproxy.url


def write_config(settings: Settings, socket: str, endpoint: str) -> Settings:
    """mlgate.yaml routing through HAProxy (what a user writes), loaded the way the CLI loads it."""
    assert settings.config_dir is not None
    config = {
        "tracking_uri": settings.tracking_uri,
        "artifact_root": settings.artifact_root,
        "lock_wait_seconds": settings.lock_wait_seconds,
        "endpoint": endpoint,
        "traffic_router": "haproxy",
        "haproxy": {"socket": socket, "backend": "mlgate_{model}", "server": "v{version}", "timeout_seconds": 5},
    }
    (settings.config_dir / "mlgate.yaml").write_text(yaml.safe_dump(config))
    # min_requests 20 and a lenient latency ratio: a step judged from the record passes on a few dozen canary
    # requests of the same model, on a loaded machine too
    rollout = {"steps": [10, 50, 100], "bake": "1h", "min_requests": 20, "analysis": {"max_p99_latency_ratio": 20}}
    (settings.config_dir / "rollout.yaml").write_text(yaml.safe_dump(rollout))
    return load_settings(env={"MLGATE_CONFIG_DIR": str(settings.config_dir), "MLGATE_ACTOR": "tester"})


@pytest.fixture
def stack(registry: Registry, model_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """v1 production (moved by the built-in router before HAProxy is configured), v2 with a passing canary gate;
    a pinned gateway for each behind HAProxy, and mlgate.yaml saying traffic_router: haproxy."""
    binary = need_haproxy()
    v1, v2 = production_and_candidate(registry, NAME, model_uri, tmp_path)
    settings = registry.settings
    assert settings.config_dir is not None
    with contextlib.ExitStack() as running:
        gateways = {v: running.enter_context(running_gateway(registry, NAME, version=v)) for v in (v1, v2)}
        pools = {v: [url.removeprefix("http://")] for v, url in gateways.items()}
        haproxy = HAProxy(BACKEND, pools, production=v1, binary=binary).start()
        running.callback(haproxy.stop)
        routed = write_config(settings, haproxy.socket, haproxy.url)
        monkeypatch.setenv("MLGATE_CONFIG_DIR", str(settings.config_dir))  # the CLI reads the same file
        monkeypatch.setenv("MLGATE_ACTOR", "tester")
        body = json.dumps(split_body(rows(1))).encode()
        yield Stack(haproxy, dict(gateways), Registry.from_settings(routed), v1, v2, body)
