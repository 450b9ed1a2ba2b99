"""The shadow step: production requests mirrored by a real gateway over HTTP to the candidate, recorded with route
shadow under the same request ids, production untouched when the shadow fails or is slow; its analysis passes
to the canary or aborts; the steps grammar, the routers, reconciling after a crash, the CLI."""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from mlgate.cli import main as cli
from mlgate.config import Settings
from mlgate.exceptions import PolicyError, TransitionRefused
from mlgate.registry import Registry, keys
from mlgate.release.rollout import driver, steps
from mlgate.release.rollout.policy import SHADOW, parse_rollout_policy, parse_steps
from mlgate.release.rollout.shadow import analyze_shadow
from mlgate.release.rollout.state import load_state
from mlgate.serving import running_gateway
from mlgate.serving.app import REQUEST_ID_HEADER, ROUTE_HEADER, VERSION_HEADER
from mlgate.serving.record import PredictionStore, Served
from mlgate.serving.router import bucket
from mlgate.testing import log_tiny_model, tiny_training_data
from mlgate.traffic import InMemoryRouter, Move, RecordedRouter, RegistryRouter
from tests.rollout_support import pass_gate, production_and_candidate, register, store

NAME = "m"


def write_policy(settings: Settings, **policy: Any) -> None:
    assert settings.config_dir is not None
    base = {"steps": ["shadow", 50, 100], "bake": "1s", "min_requests": 30}
    (settings.config_dir / "rollout.yaml").write_text(yaml.safe_dump({**base, **policy}))


def post(url: str, n: int, key_prefix: str = "") -> list[dict[str, Any]]:
    """``n`` one-row requests (successive iris rows) on one keep-alive connection: status, version, route, id."""
    x, _ = tiny_training_data()
    parsed = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    answers = []
    for i in range(n):
        row = x.iloc[[i % len(x)]]
        body = json.dumps({"dataframe_split": {"columns": list(row.columns), "data": row.to_numpy().tolist()}})
        headers = {"Content-Type": "application/json"}
        if key_prefix:
            headers["X-Mlgate-Request-Key"] = f"{key_prefix}{i}"
        conn.request("POST", "/invocations", body=body, headers=headers)
        answer = conn.getresponse()
        payload = json.loads(answer.read())
        answers.append({
            "status": answer.status,
            "version": answer.getheader(VERSION_HEADER),
            "route": answer.getheader(ROUTE_HEADER),
            "request_id": answer.getheader(REQUEST_ID_HEADER),
            "predictions": payload.get("predictions"),
        })  # fmt: skip
    conn.close()
    return answers


def settle(url: str) -> None:
    """Wait until the gateway's record and its shadow have written everything handed to them."""
    gateway = url.gateway  # type: ignore[attr-defined]
    assert gateway.recorder.flush(30)
    if gateway.shadow is not None:
        assert gateway.shadow.flush(60)


def health(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "/health", timeout=10) as answer:
        return dict(json.loads(answer.read()))


def metric(url: str, name: str) -> float:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return float(next(line.split()[-1] for line in text.splitlines() if line.startswith(name + " ")))


def wait_for(check: Any, seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("timed out")


def candidate(registry: Registry, tmp_path: Path, model: Any) -> str:
    """Register a version of another fitted model with a passing canary and production gate (its files in the
    test's own artifact folder)."""
    uri = log_tiny_model(registry.settings, experiment="shadow-candidates", model=model)
    version = register(registry, NAME, uri, tmp_path)
    pass_gate(registry, NAME, version, "canary", "production")
    return version


def constant_model() -> Any:
    from sklearn.dummy import DummyClassifier

    x, y = tiny_training_data()
    return DummyClassifier(strategy="constant", constant=2).fit(x, y)


def broken_model() -> Any:
    """A classifier whose predict raises: its coefficients no longer match the four inputs."""
    from sklearn.linear_model import LogisticRegression

    x, y = tiny_training_data()
    model = LogisticRegression(max_iter=200).fit(x, y)
    model.coef_ = np.zeros((3, 5))
    return model


def slow_model() -> Any:
    """The same answers as a good model, much more slowly: hundreds of trees per prediction."""
    from sklearn.ensemble import RandomForestClassifier

    x, y = tiny_training_data()
    return RandomForestClassifier(n_estimators=400, random_state=0).fit(x, y)


# --- the steps grammar and the policy --------------------------------------------------------------------
def test_a_plan_may_start_with_one_shadow_step() -> None:
    assert parse_steps("shadow,5,25,100") == (SHADOW, 5.0, 25.0, 100.0)
    assert parse_steps(["shadow", 10]) == (SHADOW, 10.0, 100.0)
    assert parse_steps("shadow") == (SHADOW, 100.0)  # mirrored, then straight to production
    for bad in ("5,shadow,100", "shadow,shadow,50", "shadow,0,50", "shadow,50,25"):
        with pytest.raises(PolicyError):
            parse_steps(bad)

    policy = parse_rollout_policy({"steps": ["shadow", 10, 100], "shadow": {"share": 25, "min_agreement": 0.9}})
    assert policy.steps == (SHADOW, 10.0, 100.0) and policy.shadow.share == 25 and policy.shadow.min_agreement == 0.9
    assert policy.shadow.max_prediction_psi is None  # the canary analysis's threshold applies
    for bad_section in ({"share": 0}, {"share": 150}, {"min_agreement": 2}, {"shares": 50}):
        with pytest.raises(PolicyError, match="shadow"):
            parse_rollout_policy({"shadow": bad_section})


def test_the_cli_refuses_a_shadow_step_that_is_not_first_in_one_line(cli_env: Settings) -> None:
    result = CliRunner().invoke(cli, ["rollout", "start", NAME, "2", "--steps", "5,shadow,100"])
    assert result.exit_code == 2
    assert "shadow may only be the first step, once" in result.output and "Traceback" not in result.output
    twice = CliRunner().invoke(cli, ["rollout", "start", NAME, "2", "--steps", "shadow,shadow,100"])
    assert twice.exit_code == 2 and "shadow may only be the first step" in twice.output


# --- the routers -----------------------------------------------------------------------------------------
def test_every_router_moves_and_reads_back_the_shadow(registry: Registry, model_uri: str, tmp_path: Path) -> None:
    v1, v2 = production_and_candidate(registry, NAME, model_uri, tmp_path)
    router = RegistryRouter(registry, NAME)
    router.set_shadow(v2, 40)
    assert registry.aliases(NAME)["shadow"] == v2 and registry.model_tags(NAME)[keys.SHADOW_SHARE] == "40"
    seen = router.state()
    assert (seen.production, seen.shadow, seen.shadow_share, seen.canary) == (v1, v2, 40.0, None)
    assert f"shadow v{v2} mirroring 40%" in seen.describe()
    router.clear_shadow()
    assert "shadow" not in registry.aliases(NAME) and keys.SHADOW_SHARE not in registry.model_tags(NAME)
    with pytest.raises(TransitionRefused, match="shadow share"):
        router.set_shadow(v2, 0)

    platform = InMemoryRouter(production=v1)
    recorded = RecordedRouter(router, platform)
    recorded.set_shadow(v2, 100)
    assert platform.moves == [Move("set_shadow", v2, 100.0)] and registry.aliases(NAME)["shadow"] == v2
    platform.fail_on = {"clear_shadow"}
    with pytest.raises(TransitionRefused):
        recorded.clear_shadow()
    assert registry.aliases(NAME)["shadow"] == v2  # the platform refused: the record did not move either
    platform.fail_on = set()
    recorded.clear_shadow()
    assert platform.shadow is None and "shadow" not in registry.aliases(NAME)


# --- the gateway mirrors, over real HTTP -----------------------------------------------------------------
def test_the_gateway_records_the_shadows_answers_under_the_production_request_ids(
    settings: Settings, registry: Registry, model_uri: str, tmp_path: Path
) -> None:
    v1, v2 = production_and_candidate(registry, NAME, model_uri, tmp_path)
    RegistryRouter(registry, NAME).set_shadow(v2, 100)
    with running_gateway(registry, NAME, poll_seconds=0.2) as url:
        answers = post(url, 40)
        settle(url)
        assert {(a["status"], a["version"], a["route"]) for a in answers} == {(200, v1, "production")}
        rows = store(settings).window(NAME)
        shadow = rows[rows["route"] == "shadow"]
        assert set(shadow["version"]) == {v2} and set(shadow["status"]) == {200}
        assert sorted(shadow["request_id"]) == sorted(a["request_id"] for a in answers)
        production = rows[rows["route"] == "production"].set_index("request_id")["prediction"]
        assert all(production[r.request_id] == r.prediction for r in shadow.itertuples())  # the same model
        assert metric(url, "mlgate_shadow_mirrored") == 40 and metric(url, "mlgate_shadow_dropped") == 0
        seen = health(url)["shadow"]
        assert seen["version"] == v2 and seen["share"] == 100 and seen["worker"] == "ready"

        RegistryRouter(registry, NAME).clear_shadow()  # the gateway follows: mirroring stops
        wait_for(lambda: health(url)["shadow"] is None)
        post(url, 10)
        settle(url)
        assert len(store(settings).window(NAME, route="shadow")) == 40


def test_a_share_mirrors_the_same_callers_every_time(
    settings: Settings, registry: Registry, model_uri: str, tmp_path: Path
) -> None:
    _, v2 = production_and_candidate(registry, NAME, model_uri, tmp_path)
    RegistryRouter(registry, NAME).set_shadow(v2, 30)
    with running_gateway(registry, NAME, poll_seconds=0.2) as url:
        answers = post(url, 200, key_prefix="user-")
        settle(url)
    expected = {a["request_id"] for i, a in enumerate(answers) if bucket(f"user-{i}") < 30}
    assert 30 < len(expected) < 90
    assert set(store(settings).window(NAME, route="shadow")["request_id"]) == expected


def test_production_answers_do_not_change_when_the_shadow_fails_to_predict(
    settings: Settings, registry: Registry, model_uri: str, tmp_path: Path
) -> None:
    v1, _ = production_and_candidate(registry, NAME, model_uri, tmp_path)
    with running_gateway(registry, NAME, poll_seconds=0.2) as url:
        alone = post(url, 20)
        broken = candidate(registry, tmp_path, broken_model())
        RegistryRouter(registry, NAME).set_shadow(broken, 100)
        wait_for(lambda: (health(url)["shadow"] or {}).get("worker") == "ready")
        mirrored = post(url, 20)
        settle(url)
    assert [(a["status"], a["version"], a["predictions"]) for a in mirrored] == [
        (a["status"], a["version"], a["predictions"]) for a in alone
    ]
    assert {a["version"] for a in mirrored} == {v1}
    shadow = store(settings).window(NAME, route="shadow")
    assert len(shadow) == 20 and set(shadow["status"]) == {500} and set(shadow["version"]) == {broken}


def test_production_answers_do_not_change_when_the_shadow_fails_to_load(
    settings: Settings, registry: Registry, model_uri: str, tmp_path: Path
) -> None:
    v1, _ = production_and_candidate(registry, NAME, model_uri, tmp_path)
    unloadable = candidate(registry, tmp_path, constant_model())
    for model_file in Path(settings.artifact_root or "").rglob("MLmodel"):
        model_file.unlink()  # the candidate's package is gone (production's lives in the template store)
    RegistryRouter(registry, NAME).set_shadow(unloadable, 100)
    with running_gateway(registry, NAME, poll_seconds=0.2) as url:
        wait_for(lambda: unloadable in health(url)["failed_versions"])
        answers = post(url, 20)
        assert metric(url, "mlgate_shadow_mirrored") == 0  # nothing handed to a shadow that did not load
        wait_for(lambda: health(url)["shadow"] is None)  # dropped at the gateway's next look at the registry
        report = health(url)
        settle(url)
    assert {(a["status"], a["version"]) for a in answers} == {(200, v1)}
    assert report["status"] == "degraded" and unloadable in report["failed_versions"]
    failure = next(e for e in registry.events(NAME) if e.action == "serving-load-failed")
    assert failure.to_version == unloadable and failure.details["role"] == "shadow"
    assert store(settings).window(NAME, route="shadow").empty


# --- the analysis, through the rollout driver ------------------------------------------------------------
def decide_now(registry: Registry, settings: Settings) -> Any:
    """Judge the current step now (its bake counted as done) over what the gateway recorded."""
    return driver.decide(registry, NAME, store(settings), clock=lambda: time.time() + 5)


def test_a_shadow_step_that_agrees_passes_to_the_canary(
    settings: Settings, registry: Registry, model_uri: str, tmp_path: Path
) -> None:
    write_policy(settings)
    v1, v2 = production_and_candidate(registry, NAME, model_uri, tmp_path)
    started = steps.start(registry, NAME, v2)
    assert started.state is not None and started.state.steps == [SHADOW, 50.0, 100.0]
    assert registry.aliases(NAME)["shadow"] == v2 and "canary" not in registry.aliases(NAME)
    with running_gateway(registry, NAME, poll_seconds=0.2) as url:
        post(url, 60)
        settle(url)
        result = decide_now(registry, settings)
        wait_for(lambda: health(url)["shadow"] is None and health(url)["canary_weight"] == 50)
    assert result.state.step == 1 and result.state.status == "running"
    aliases = registry.aliases(NAME)
    assert aliases["canary"] == v2 and "shadow" not in aliases and aliases["production"] == v1
    analysis = next(e for e in registry.events(NAME) if e.action == "rollout-analysis")
    assert analysis.result == "pass" and analysis.details["weight"] == 0
    criteria = {c["name"]: c for c in analysis.details["analysis"]["criteria"]}
    assert criteria["agreement"]["value"] == 1.0 and criteria["agreement"]["passed"] is True
    assert analysis.details["analysis"]["canary"]["route"] == "shadow"
    assert analysis.details["analysis"]["canary"]["requests"] == 60


@pytest.mark.parametrize(
    ("model", "breach"), [(constant_model, "agreement"), (slow_model, "p99 latency")], ids=["disagrees", "slow"]
)
def test_a_shadow_step_that_breaches_aborts_like_a_canary(
    settings: Settings, registry: Registry, model_uri: str, tmp_path: Path, model: Any, breach: str
) -> None:
    write_policy(settings)
    v1, _ = production_and_candidate(registry, NAME, model_uri, tmp_path)
    bad = candidate(registry, tmp_path, model())
    steps.start(registry, NAME, bad)
    with running_gateway(registry, NAME, poll_seconds=0.2) as url:
        wait_for(lambda: (health(url)["shadow"] or {}).get("worker") == "ready")
        answers = post(url, 60)
        settle(url)
        result = decide_now(registry, settings)
        wait_for(lambda: health(url)["shadow"] is None)
    assert {(a["status"], a["version"]) for a in answers} == {(200, v1)}  # no caller saw the candidate
    state = result.state
    assert state.status == "aborted" and state.outcome.startswith(f"shadow analysis: breached: {breach}")
    assert "shadow" not in registry.aliases(NAME) and "canary" not in registry.aliases(NAME)
    assert registry.version(NAME, bad).tags[keys.STATUS] == "failed"
    assert registry.version(NAME, bad).tags[keys.ROLLED_BACK_REASON].startswith("shadow aborted")
    abort = registry.events(NAME)[0]
    assert abort.action == "rollout-abort" and breach in abort.reason


def record_pairs(
    target: PredictionStore, n: int, production: list[Any], shadow: list[Any], shadow_status: int = 200
) -> None:
    import pandas as pd

    now = time.time()
    items = []
    for i in range(n):
        common = {"ts": now + i * 0.001, "model": NAME, "request_id": f"r{i}", "request_key": None, "latency_ms": 2.0,
                  "inputs": pd.DataFrame([{"x": float(i)}])}  # fmt: skip
        items.append(Served(**common, version="1", route="production", status=200, predictions=[production[i]]))
        status = shadow_status if i % 2 else 200
        items.append(Served(**common, version="2", route="shadow", status=status, predictions=[shadow[i]]))
    target.record_many(items)


def test_regression_is_judged_on_the_error_distribution_of_the_same_requests(
    settings: Settings, tmp_path: Path
) -> None:
    policy = parse_rollout_policy({"min_requests": 50, "shadow": {"max_error_p95": 0.05}})
    record = PredictionStore(f"sqlite:///{tmp_path / 'record.db'}")
    values = list(np.linspace(10, 20, 200))
    record_pairs(record, 200, values, [v * 1.01 for v in values])
    close = analyze_shadow(record.window(NAME, inputs=False), policy)
    assert close.decision == "pass" and close.criteria[0].name == "error p95"
    assert close.criteria[0].value == pytest.approx(0.0133, abs=0.002)

    record = PredictionStore(f"sqlite:///{tmp_path / 'far.db'}")
    record_pairs(record, 200, values, [v * 1.2 for v in values])
    far = analyze_shadow(record.window(NAME, inputs=False), policy)
    assert far.decision == "fail" and far.reason.startswith("breached: error p95")

    record = PredictionStore(f"sqlite:///{tmp_path / 'failing.db'}")
    record_pairs(record, 200, values, values, shadow_status=500)
    failing = analyze_shadow(record.window(NAME, inputs=False), policy)
    assert failing.decision == "fail" and "error rate" in failing.reason

    record = PredictionStore(f"sqlite:///{tmp_path / 'few.db'}")
    record_pairs(record, 20, values, values)
    assert analyze_shadow(record.window(NAME, inputs=False), policy).decision == "inconclusive"


# --- a crash between two writes, and the status ----------------------------------------------------------
def test_a_killed_run_puts_the_shadow_back_where_the_state_says(
    settings: Settings, registry: Registry, model_uri: str, tmp_path: Path
) -> None:
    write_policy(settings, shadow={"share": 60})
    _, v2 = production_and_candidate(registry, NAME, model_uri, tmp_path)
    steps.start(registry, NAME, v2)
    router = RegistryRouter(registry, NAME)
    router.clear_shadow()  # as if the process died after writing the state, before traffic moved
    with registry.lock(NAME, "test"):
        state = load_state(registry, NAME)
        assert state is not None
        notes = driver.reconcile(registry, state, router)
    assert notes == [f"traffic set back to the stored state: v{v2} mirrored 60%"]
    assert router.state().shadow == v2 and router.state().shadow_share == 60

    steps.advance(registry, NAME)
    router.set_shadow(v2, 60)  # as if the process died after the canary moved, before the shadow was cleared
    with registry.lock(NAME, "test"):
        state = load_state(registry, NAME)
        assert state is not None
        notes = driver.reconcile(registry, state, router)
    assert notes == [f"stopped mirroring to v{v2}: the rollout is past its shadow step"]
    assert router.state().shadow is None and router.state().canary == v2


def test_status_shows_the_shadow_step(cli_env: Settings, registry: Registry, model_uri: str, tmp_path: Path) -> None:
    write_policy(cli_env)
    _, v2 = production_and_candidate(registry, NAME, model_uri, tmp_path)
    result = CliRunner().invoke(cli, ["rollout", "start", NAME, v2, "--steps", "shadow,25,100"])
    assert result.exit_code == 0, result.output
    assert "[shadow] -> 25% -> 100%" in result.output and "shadow: mirrored requests only" in result.output
    aborted = CliRunner().invoke(cli, ["rollout", "abort", NAME, "--reason", "not today"])
    assert aborted.exit_code == 0 and "shadow" not in registry.aliases(NAME)
