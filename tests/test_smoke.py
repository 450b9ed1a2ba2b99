"""Smoke tests: in-process, against the gateway, against `mlflow models serve`, and after promote/rollback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from mlgate import api
from mlgate.cli import main
from mlgate.config import Settings
from mlgate.registry import Registry
from mlgate.serving import running_gateway
from mlgate.smoke import post_deploy_smoke, smoke_endpoint, smoke_in_process
from tests.serving_helpers import NAME, module_registry, rows, split_body


@pytest.fixture(scope="module")
def reg(tmp_path_factory: pytest.TempPathFactory, template_store: tuple[Path, str]) -> Registry:
    return module_registry(tmp_path_factory.mktemp("smoke"), template_store, versions=2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def mlflow_serve(reg: Registry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`mlflow models serve` of v1, the way a user runs it (local env manager, the venv's bin on PATH)."""
    port = _free_port()
    venv_bin = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}",
        "MLFLOW_TRACKING_URI": reg.settings.tracking_uri,
        "MLFLOW_REGISTRY_URI": reg.settings.registry_uri,
    }
    log = (tmp_path_factory.mktemp("mlflow-serve") / "serve.log").open("w")
    proc = subprocess.Popen(
        [f"{venv_bin}/mlflow", "models", "serve", "-m", f"models:/{NAME}/1", "--env-manager", "local",
         "-h", "127.0.0.1", "-p", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, "mlflow models serve exited; see its log"
            try:
                if httpx.get(url + "/ping", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "mlflow models serve did not start"
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(30)
        log.close()


def test_in_process_smoke_passes_for_a_good_version(reg: Registry) -> None:
    result = smoke_in_process(reg, NAME, "1")
    assert result.passed, result.summary()
    assert result.target == "in-process"


def test_endpoint_smoke_against_the_gateway_checks_everything(reg: Registry) -> None:
    with running_gateway(reg, NAME, record=False) as url:
        result = smoke_endpoint(reg, NAME, "1", url, wait_seconds=5)
    assert result.passed, result.summary()
    names = {c.name: c for c in result.checks}
    assert {"endpoint serves the version", "status 200", "response shape", "prediction types",
            "predictions match the registry model", "answering version", "latency budget"} <= set(names)  # fmt: skip
    assert not any(c.skipped for c in result.checks)
    assert names["answering version"].detail == "v1 answered, expected v1"
    assert result.latency_ms is not None and result.latency_ms > 0


def test_endpoint_smoke_fails_when_the_endpoint_serves_another_version(reg: Registry) -> None:
    with running_gateway(reg, NAME, version="2", record=False) as url:
        waited = smoke_endpoint(reg, NAME, "1", url, wait_seconds=0.5)
        unwaited = smoke_endpoint(reg, NAME, "1", url)
    assert not waited.passed
    assert "still does not serve v1" in waited.summary()
    assert not unwaited.passed
    assert "answering version: v2 answered, expected v1" in unwaited.summary()


def test_endpoint_smoke_fails_over_the_latency_budget_and_when_nothing_listens(reg: Registry) -> None:
    strict = Registry(reg.client, reg.settings.with_overrides(smoke_latency_budget_ms=0.001))
    with running_gateway(reg, NAME, record=False) as url:
        slow = smoke_endpoint(strict, NAME, "1", url)
    assert not slow.passed and "latency budget" in slow.summary()
    down = smoke_endpoint(reg, NAME, "1", f"http://127.0.0.1:{_free_port()}")
    assert not down.passed and "endpoint answers" in down.summary()


def test_endpoint_smoke_works_against_mlflow_models_serve_and_says_what_it_cannot_check(
    reg: Registry, mlflow_serve: str
) -> None:
    result = smoke_endpoint(reg, NAME, "1", mlflow_serve, wait_seconds=5)
    assert result.passed, result.summary()
    skipped = {c.name for c in result.checks if c.skipped}
    assert skipped == {"endpoint serves the version", "answering version"}
    assert "not checked: endpoint serves the version, answering version" in result.summary()


def test_a_null_value_gets_a_stack_trace_from_mlflow_but_a_named_column_from_the_gateway(
    reg: Registry, mlflow_serve: str
) -> None:
    frame = rows(2).astype(object)
    frame.loc[0, "sepal_width"] = None
    body = split_body(frame)
    theirs = httpx.post(mlflow_serve + "/invocations", json=body)
    assert theirs.status_code >= 400
    assert "Traceback" in theirs.text or "stack_trace" in theirs.json()  # what the gateway exists to avoid
    with running_gateway(reg, NAME, record=False) as url:
        ours = httpx.post(url + "/invocations", json=body)
    assert ours.status_code == 422
    assert "Traceback" not in ours.text and "stack_trace" not in ours.json()
    assert ours.json()["problems"][0]["column"] == "sepal_width"


def test_promote_and_rollback_smoke_the_configured_endpoint_after_it_switches(
    tmp_path: Path, template_store: tuple[Path, str]
) -> None:
    base = module_registry(tmp_path, template_store, versions=2, endpoint_wait_seconds=20.0)
    with running_gateway(base, NAME, poll_seconds=0.2, record=False) as url:
        reg = Registry(base.client, base.settings.with_overrides(endpoint=str(url)))
        api.promote(NAME, "1", "production", force=True, reason="first release", registry=reg)
        promoted = api.promote(NAME, "2", "production", force=True, reason="new model", registry=reg)
        assert promoted.smoke is not None and promoted.smoke.passed, promoted.smoke
        assert promoted.smoke.target == url
        assert httpx.get(url + "/version").json()["production"] == "2"
        rolled = api.rollback(NAME, reason="bad predictions", registry=reg)
        assert rolled.smoke is not None and rolled.smoke.passed, rolled.smoke.summary()
        checks = {c.name: c.detail for c in rolled.smoke.checks}
        assert checks["answering version"] == "v1 answered, expected v1"
        assert httpx.post(url + "/invocations", json=split_body(rows(1))).headers["X-Mlgate-Model-Version"] == "1"
    [event] = [e for e in reg.events(NAME) if e.action == "rollback"]
    assert event.details["smoke"]["target"] == url and event.details["smoke"]["passed"] is True


def test_post_deploy_smoke_without_an_endpoint_runs_in_process(reg: Registry) -> None:
    assert reg.settings.endpoint is None
    assert post_deploy_smoke(reg, NAME, "1").target == "in-process"


def test_cli_smoke_against_an_endpoint(cli_env: Settings, model_uri: str, card_path: Path) -> None:
    registry = Registry.from_settings(cli_env)
    api.register(NAME, model_uri, card_path, registry=registry)
    registry.set_alias(NAME, "production", "1")
    with running_gateway(registry, NAME, record=False) as url:
        ok = CliRunner().invoke(main, ["smoke", NAME, "--endpoint", url, "--json"])
        assert ok.exit_code == 0, ok.output
        assert json.loads(ok.output)["passed"] is True
        text = CliRunner().invoke(main, ["smoke", NAME, "--endpoint", url, "--version", "1"])
        assert text.exit_code == 0 and "ok   answering version: v1 answered" in text.output
    down = CliRunner(env={"MLGATE_ENDPOINT_WAIT_SECONDS": "0.5"}).invoke(
        main, ["smoke", NAME, "--endpoint", f"http://127.0.0.1:{_free_port()}"]
    )
    assert down.exit_code == 1
    assert "FAIL endpoint serves the version: after 0.5 s" in down.output and "it did not answer" in down.output
