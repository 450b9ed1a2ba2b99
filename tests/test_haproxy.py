"""Traffic through a real HAProxy (its runtime API) in front of real pinned gateways, checked over real HTTP:
the split at each rollout step, no failed request while weights move, and a rollback to the last known good."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mlgate import api
from mlgate.cli import main
from mlgate.config import load_settings
from mlgate.exceptions import TrafficError, TransitionRefused
from mlgate.registry import Registry, keys
from mlgate.release.rollout.analysis import PASS, Analysis
from mlgate.release.rollout.driver import decide
from mlgate.release.rollout.state import load_state
from mlgate.serving.record import PredictionStore, default_store_url
from mlgate.testing.haproxy import Load, observe
from mlgate.traffic import RecordedRouter, router_for
from mlgate.traffic.haproxy import HAProxyRouter
from tests.haproxy_support import BACKEND, NAME, Stack, binomial_ok, stack  # noqa: F401 - stack is a fixture

SAMPLE = 400  # requests per measured split: 4 sigma at 10 % is +-24 requests


def _split(s: Stack, percent: float) -> None:
    """The canary v2 answers ``percent`` % of SAMPLE requests through HAProxy (binomial tolerance), v1 the rest."""
    seen = observe(s.url, s.body, SAMPLE)
    assert seen[None] == 0, seen
    assert set(seen) <= {s.v1, s.v2}, seen
    assert binomial_ok(seen[s.v2], SAMPLE, percent), f"{seen} at {percent}%"


def _judged_from_the_record(s: Stack) -> Analysis:
    """Let the current step's bake period pass (a clock an hour ahead) and decide it from the prediction record."""
    for url in s.gateways.values():
        recorder = url.gateway.recorder  # type: ignore[attr-defined]  # a RunningGateway
        assert recorder is not None and recorder.flush()
    store = PredictionStore(default_store_url(s.registry.settings))
    try:
        decided = decide(s.registry, NAME, store, clock=lambda: time.time() + 3600)
    finally:
        store.close()
    assert decided.analysis is not None and decided.analysis.source == "record"
    return decided.analysis


def test_a_rollout_and_a_rollback_move_real_traffic_through_haproxy(stack: Stack) -> None:  # noqa: F811
    s, registry = stack, stack.registry
    router = router_for(registry, NAME)
    assert isinstance(router, RecordedRouter) and isinstance(router.router, HAProxyRouter)
    _split(s, 0)
    load = Load(s.url, s.body).start()  # client traffic all along: no request may fail while weights move
    try:
        api.rollout_start(NAME, s.v2, registry=registry)
        _split(s, 10)
        weights = s.haproxy.command(f"get weight {BACKEND}/v{s.v2}")
        assert weights.startswith("10 "), weights  # the runtime API says so too
        status = CliRunner().invoke(main, ["rollout", "status", NAME, "--no-live"])
        assert status.exit_code == 0, status.output
        assert f"router    HAProxy backend '{BACKEND}'" in status.output
        assert f"production v{s.v1}, canary v{s.v2} at 10%" in status.output

        # A pool HAProxy cannot send traffic to: the move is refused, the rollout stays at 10 % (traffic and record).
        s.haproxy.command(f"disable server {BACKEND}/v{s.v2}")
        with pytest.raises(TrafficError, match=f"no server up in the pool of v{s.v2}"):
            api.rollout_advance(NAME, registry=registry)
        state = load_state(registry, NAME)
        assert state is not None and state.step == 0 and registry.model_tags(NAME)[keys.CANARY_WEIGHT] == "10"
        s.haproxy.command(f"enable server {BACKEND}/v{s.v2}")
        _split(s, 10)

        # The step judged from the gateways' record once baked: pinned gateways record every answer on route
        # production, and the analysis takes each side by version, so the canary's answers count and it passes.
        analysis = _judged_from_the_record(s)
        assert analysis.decision == PASS, analysis.summary()
        assert (analysis.production.version, analysis.canary.version) == (s.v1, s.v2)
        assert analysis.canary.requests >= 20 and analysis.production.requests > analysis.canary.requests
        _split(s, 50)
        assert registry.model_tags(NAME)[keys.CANARY_WEIGHT] == "50"  # the registry stays the record
        api.rollout_advance(NAME, registry=registry)  # past the last step: v2 becomes production
        _split(s, 100)
        aliases = registry.aliases(NAME)
        assert aliases["production"] == s.v2 and aliases["last-known-good"] == s.v1 and "canary" not in aliases

        result = api.rollback(NAME, reason="test: back to the last known good", registry=registry)
        assert result.smoke is not None and result.smoke.passed  # smoke-tested through HAProxy's frontend
        answered = observe(s.url, s.body, SAMPLE)
        assert answered == {s.v1: SAMPLE}  # 100 % on the last known good, by the answering-version header
        assert registry.aliases(NAME)["production"] == s.v1
    finally:
        load.stop()
    assert load.sent > 200 and load.failed == 0, load.answers
    assert set(load.answers) == {s.v1, s.v2}


def test_haproxy_refuses_a_shadow_step_and_an_unreachable_socket_is_one_clear_line(
    registry: Registry, model_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.rollout_support import production_and_candidate

    v1, v2 = production_and_candidate(registry, NAME, model_uri, tmp_path)
    assert registry.settings.config_dir is not None
    socket = tmp_path / "no-haproxy.sock"
    config = {
        "tracking_uri": registry.settings.tracking_uri,
        "artifact_root": registry.settings.artifact_root,
        "traffic_router": "haproxy",
        "haproxy": {"socket": str(socket)},
    }
    (registry.settings.config_dir / "mlgate.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("MLGATE_CONFIG_DIR", str(registry.settings.config_dir))
    routed = Registry.from_settings(load_settings())

    with pytest.raises(TransitionRefused, match="shadow stage needs the built-in router"):
        api.rollout_start(NAME, v2, steps="shadow,10,100", registry=routed)
    state = load_state(registry, NAME)
    assert state is not None and not state.active  # nothing left running
    assert "canary" not in registry.aliases(NAME) and "shadow" not in registry.aliases(NAME)

    out = CliRunner().invoke(main, ["rollout", "start", NAME, v2, "--steps", "10,100"])
    assert out.exit_code == 1
    assert f"cannot reach HAProxy's runtime API at {socket}" in out.output
    assert "stats socket" in out.output and "Traceback" not in out.output
    assert registry.aliases(NAME)["production"] == v1 and "canary" not in registry.aliases(NAME)

    bad = {**config, "haproxy": {"socket": str(socket), "sever": "v{version}"}}
    (registry.settings.config_dir / "mlgate.yaml").write_text(yaml.safe_dump(bad))
    out = CliRunner().invoke(main, ["rollout", "status", NAME])
    assert out.exit_code == 1 and "sever" in out.output and "server" in out.output  # did you mean
