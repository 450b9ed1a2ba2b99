"""Canary analysis and the watch from a real Prometheus scraping real gateways, and the inconclusive verdict.

A real Prometheus 2.42 (1 s scrapes) scrapes a real gateway on loopback while a client sends it traffic:
a healthy canary passes from Prometheus' figures and the watch after it judges production from them; a
canary whose data contract rejects the traffic aborts; too few samples, an empty or NaN result and a
stopped Prometheus are inconclusive, and ``max_inconclusive`` of them in a row pause the rollout with
the reason in its status and history. The rollout.yaml keys and the watch's pause use the record.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from mlgate import api
from mlgate.exceptions import MetricSourceError, PolicyError
from mlgate.registry import Registry
from mlgate.release.rollout import driver, prom_analysis, steps
from mlgate.release.rollout import watch as watching
from mlgate.release.rollout.policy import RolloutPolicy, load_rollout_policy, parse_rollout_policy
from mlgate.release.rollout.state import load_state
from mlgate.serving import running_gateway
from mlgate.testing import write_card
from mlgate.traffic import router_for
from tests.prometheus_support import PrometheusServer, prometheus_binary
from tests.rollout_support import FakeClock, pass_gate, production_and_candidate, store, traffic
from tests.serving_helpers import NAME, module_registry, rows, split_body

CONTRACT = Path(__file__).parent / "data" / "iris_contract.yaml"


class Load:
    """A client thread sending one-row requests to the gateway until stopped; counts (status, route)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.body = json.dumps(split_body(rows(1)))
        self.seen: Counter[tuple[int, str]] = Counter()
        self.halt = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def send(self, frame: Any) -> None:
        self.body = json.dumps(split_body(frame))

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self.halt.is_set():
                answer = client.post("/invocations", content=self.body, headers={"Content-Type": "application/json"})
                self.seen[(answer.status_code, answer.headers.get("X-Mlgate-Route", ""))] += 1
                time.sleep(0.01)

    def stop(self) -> None:
        self.halt.set()
        self.thread.join(15)


@dataclass
class Stack:
    registry: Registry
    prom: PrometheusServer
    load: Load

    def write_policy(self, **policy: Any) -> RolloutPolicy:
        analysis = {"source": "prometheus", "url": self.prom.url, "max_p99_latency_ratio": 20}
        analysis.update(policy.pop("analysis", {}))
        base = {"steps": [50, 100], "bake": "4s", "min_requests": 10, "max_inconclusive": 2, "analysis": analysis}
        config = self.registry.settings.config_dir
        assert config is not None
        (config / "rollout.yaml").write_text(yaml.safe_dump({**base, **policy}))
        return load_rollout_policy(self.registry.settings, NAME)

    def seen(self, version: str, route: str = "canary") -> None:
        """Wait until Prometheus has scraped ``version``'s requests on ``route`` (a new series counts from its
        first scrape: increase() needs two samples in the window), then two more scrapes."""
        series = f'sum(mlgate_requests_total{{route="{route}",version="{version}"}})'
        self.prom.wait_for(series, lambda v: v > 0, timeout=60)
        time.sleep(2.5)

    def decide_after_bake(self) -> Any:
        state = load_state(self.registry, NAME)
        assert state is not None
        self.seen(state.version)
        time.sleep(max(0.0, state.decision_due - time.time()) + 0.1)
        return driver.decide(self.registry, NAME, store(self.registry.settings))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, template_store: tuple[Path, str]) -> Iterator[Stack]:
    """v1 production, v2 a healthy candidate, v3 one whose data contract rejects petal_length 42, v4 spare;
    one gateway following the aliases, scraped by Prometheus every second, under a steady load."""
    prometheus_binary()  # skip (fail in CI) before building anything
    folder = tmp_path_factory.mktemp("prometheus")
    (folder / "mlflow_config").mkdir()
    reg = module_registry(folder, template_store, versions=2, config_dir=folder / "mlflow_config")
    for i, contract in enumerate((CONTRACT, None)):
        card = write_card(folder / f"card-{i}.yaml")
        api.register(NAME, template_store[1], card, contract=contract, registry=reg)
    for version in ("2", "3", "4"):
        pass_gate(reg, NAME, version, "canary", "production")
    with (
        running_gateway(reg, NAME, poll_seconds=0.2, record=False) as url,
        PrometheusServer([url.removeprefix("http://").rstrip("/")], folder) as prom,
    ):
        load = Load(url)
        try:
            prom.wait_for(f'sum(mlgate_requests_total{{model="{NAME}"}})', lambda v: v > 0)
            yield Stack(reg, prom, load)
        finally:
            load.stop()


def test_a_healthy_canary_passes_from_prometheus_and_a_failing_one_aborts(stack: Stack) -> None:
    reg = stack.registry
    up = 'sum(mlgate_serving_version{model="{model}",version="{version}",route="{route}"})'
    stack.write_policy(analysis={"metrics": [{"name": "canary served", "query": up, "success": ">= 1"}]}, watch="60s")
    steps.start(reg, NAME, "2")
    result = stack.decide_after_bake()
    analysis = result.analysis
    assert analysis.decision == "pass", analysis.summary()
    assert analysis.source == f"prometheus {stack.prom.url}"
    assert analysis.production.version == "1" and analysis.canary.version == "2"
    assert analysis.production.requests >= 10 and analysis.canary.requests >= 10  # counted by Prometheus
    assert analysis.canary.error_rate == 0 and analysis.canary.p99_latency_ms is not None
    assert {c.name: c.passed for c in analysis.criteria} == {"error rate": True, "p99 latency": True,
                                                            "canary served": True}  # fmt: skip
    assert result.state.status == "completed" and reg.aliases(NAME)["production"] == "2"

    # the watch after it judges production from Prometheus too: v2 since the change against v1 before it
    state, _ = watching.begin(reg, NAME, 60.0)
    assert state is not None
    stack.seen("2", "production")
    time.sleep(2)
    policy = load_rollout_policy(reg.settings, NAME)
    look = watching.check(reg, state, store(reg.settings), policy, router_for(reg, NAME, None))
    verdict = look.verdict
    assert verdict is not None and verdict.decision == "pass", verdict.summary()
    assert verdict.source.startswith("prometheus") and verdict.before.version == "1" and verdict.after.version == "2"
    assert verdict.before.requests >= 10 and verdict.after.requests >= 10

    # v3's data contract refuses what the clients send: its error rate in Prometheus aborts it
    bad = rows(1)
    bad.loc[0, "petal_length"] = 42.0
    stack.load.send(bad)
    try:
        steps.start(reg, NAME, "3")
        result = stack.decide_after_bake()
    finally:
        stack.load.send(rows(1))
    analysis = result.analysis
    assert analysis.decision == "fail" and "error rate" in analysis.reason, analysis.summary()
    assert analysis.canary.error_rate == pytest.approx(1.0) and analysis.production.error_rate == 0
    assert result.state.status == "aborted" and "canary" not in reg.aliases(NAME)
    abort = reg.events(NAME)[0]
    assert abort.action == "rollout-abort" and abort.details["evidence"]["source"].startswith("prometheus")


def test_too_few_samples_empty_nan_and_a_stopped_prometheus_are_inconclusive_then_the_rollout_pauses(
    stack: Stack,
) -> None:
    reg = stack.registry
    production = reg.aliases(NAME)["production"]
    steps.start(reg, NAME, "4")
    stack.seen("4")
    time.sleep(1)
    until = datetime.now(UTC)
    since = datetime.fromtimestamp(until.timestamp() - 3, UTC)

    def judge(**policy: Any) -> Any:
        p = stack.write_policy(**policy)
        assert p.prometheus is not None
        return prom_analysis.analyze_canary(p.prometheus, p, NAME, production, "4", since, until)

    few = judge(min_requests=100_000)
    assert few.decision == "inconclusive" and "too few samples" in few.reason and "canary" in few.reason
    assert judge().decision == "pass"
    empty = {"name": "orders", "query": 'sum(orders_total{version="{version}"})', "success": "> 0"}
    result = judge(analysis={"metrics": [empty]})
    assert result.decision == "inconclusive" and "orders of canary (empty)" in result.reason
    nan = {"name": "ratio", "query": "0 / 0", "success": "< 1"}
    result = judge(analysis={"metrics": [nan]})
    assert result.decision == "inconclusive" and "ratio of canary (nan)" in result.reason
    between = {"name": "served", "query": "vector(0.5)", "success": "> 0.9", "failure": "< 0.1"}
    assert judge(analysis={"metrics": [between]}).decision == "inconclusive"
    several = {"name": "per status", "query": 'mlgate_requests_total{model="{model}"}', "success": "> 0"}
    with pytest.raises(MetricSourceError, match=r"the per status query .* returned \d+ series where one is needed"):
        judge(analysis={"metrics": [several]})

    stack.prom.stop()  # Prometheus down: inconclusive, never a pass or a failure, then a pause for a person
    try:
        down = judge(max_inconclusive=2)
        assert down.decision == "inconclusive" and f"Prometheus at {stack.prom.url} did not answer" in down.reason
        result = driver.run(reg, NAME, store(reg.settings), poll_seconds=0.2, max_seconds=20)
        state = result.state
        assert state is not None and state.status == "paused" and reg.aliases(NAME)["canary"] == "4"
        assert "2 inconclusive analyses in a row" in (state.outcome or "") and stack.prom.url in (state.outcome or "")
        history = [(e.action, e.result) for e in reg.events(NAME)[:3]]
        assert history == [("rollout-pause", "completed"), ("rollout-analysis", "inconclusive"),
                           ("rollout-analysis", "inconclusive")]  # fmt: skip
        assert reg.events(NAME)[0].reason == state.outcome
        shown = api.rollout_status(NAME, live=True, registry=reg)
        assert shown.state is not None and shown.state.outcome == state.outcome
        assert shown.analysis is not None and shown.analysis.decision == "inconclusive"
    finally:
        stack.prom.start()
        steps.abort(reg, NAME, reason="test over")


# --- rollout.yaml, and the inconclusive logic on the gateway's record ----------------------------------
def test_the_analysis_source_keys_are_strict() -> None:
    policy = parse_rollout_policy({"analysis": {"source": "prometheus", "url": "http://prom:9090/"}})
    assert policy.prometheus is not None and policy.prometheus.url == "http://prom:9090"
    assert "mlgate_requests_total" in policy.prometheus.queries["requests"]
    assert parse_rollout_policy({}).prometheus is None and parse_rollout_policy({}).max_inconclusive == 4
    assert parse_rollout_policy({"max_extensions": 1}).max_inconclusive == 2  # the older key: extra bake periods
    bad = [
        ({"analysis": {"source": "graphite"}}, "not a metric source"),
        ({"analysis": {"url": "http://prom:9090"}}, "need source: prometheus"),
        ({"analysis": {"source": "prometheus"}}, "base URL is needed"),
        ({"analysis": {"source": "prometheus", "url": "http://p", "queries": {"error_rates": "x"}}}, "error_rate"),
        ({"analysis": {"source": "prometheus", "url": "http://p", "queries": {"requests": "x{modle}"}}}, "{modle}"),
        ({"analysis": {"source": "prometheus", "url": "http://p", "metrics": [{"name": "a", "query": "x"}]}},
         "success or a failure"),
        ({"analysis": {"source": "prometheus", "url": "http://p",
                       "metrics": [{"name": "a", "query": "x", "success": "about 3"}]}}, "not a condition"),
        ({"max_inconclusive": 0}, "at least 1"),
    ]  # fmt: skip
    for data, message in bad:
        with pytest.raises(PolicyError) as caught:
            parse_rollout_policy(data)
        assert message in str(caught.value), (data, str(caught.value))


def test_a_watch_with_no_verdict_pauses_after_max_inconclusive_bake_periods_and_resumes(
    settings: Any, registry: Registry, model_uri: str, tmp_path: Path
) -> None:
    assert settings.config_dir is not None
    policy = {"bake": "60s", "min_requests": 50, "watch": "30m", "max_inconclusive": 3}
    (settings.config_dir / "rollout.yaml").write_text(yaml.safe_dump(policy))
    v1, v2 = production_and_candidate(registry, "m", model_uri, tmp_path)
    record = store(settings)
    clock = FakeClock()
    record.record_many(traffic("m", v1, "production", clock.now - 600, 590, 300))
    api.promote("m", v2, "production", registry=registry)  # and then no traffic reaches v2
    result = watching.watch(registry, "m", record, clock=clock, sleep=clock.sleep, poll_seconds=10)
    state = result.state
    assert state is not None and state.status == "paused"
    assert state.inconclusive == 3 and 115 <= clock.now - state.started_at <= 135  # one per bake period, not per look
    assert "3 inconclusive analyses in a row" in (state.outcome or "") and "`mlgate watch m`" in (state.outcome or "")
    assert "not enough requests" in (state.outcome or "")
    assert registry.aliases("m")["production"] == v2  # nothing was rolled back
    pause = registry.events("m")[0]
    assert pause.action == "watch-pause" and pause.reason == state.outcome

    record.record_many(traffic("m", v2, "production", clock.now - 55, 50, 200))
    again = watching.watch(registry, "m", record, clock=clock, sleep=clock.sleep, poll_seconds=10, max_seconds=1)
    assert "resumed the paused watch of v" + v2 in again.notes[0]
    assert again.state is not None and again.state.status == "watching" and again.state.inconclusive == 0
    assert again.verdict is not None and again.verdict.decision == "pass"
    assert [e.action for e in registry.events("m")[:2]] == ["watch-resume", "watch-pause"]
