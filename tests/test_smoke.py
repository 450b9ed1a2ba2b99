"""Smoke tests: in-process, against the gateway, against `mlflow models serve`, and after promote/rollback."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from mlgate import api
from mlgate.cli import main
from mlgate.config import Settings
from mlgate.registry import Registry, keys
from mlgate.registry.version_files import write_text
from mlgate.release.smoke.checks import smoke_in_process
from mlgate.release.smoke.deploy import post_deploy_smoke
from mlgate.release.smoke.endpoint import smoke_endpoint
from mlgate.release.smoke.reference import reference_text
from mlgate.serving import running_gateway
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


# --- the smoke reference: expected predictions recorded on the version -----------------------------------
@pytest.fixture
def fresh(tmp_path: Path, template_store: tuple[Path, str]) -> Registry:
    """Two versions without any smoke reference; v1 is production."""
    return module_registry(tmp_path, template_store, versions=2)


def _reference(registry: Registry, version: str) -> dict[str, object]:
    text, where = reference_text(registry, NAME, version)
    assert text is not None and where.startswith("file "), where  # recorded off the version's tags
    assert keys.SMOKE_REFERENCE not in registry.version(NAME, version).tags
    return json.loads(text)


def _edit_reference(registry: Registry, version: str, text: str) -> None:
    write_text(registry, NAME, version, keys.SMOKE_REFERENCE_ARTIFACT, text)


def _no_download(*_: object, **__: object) -> None:
    raise AssertionError("the smoke test downloaded the model package")


def test_a_passing_smoke_records_a_reference_the_next_endpoint_smoke_uses_without_loading_the_model(
    fresh: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = smoke_in_process(fresh, NAME, "1")
    assert first.passed and any("recorded the expected predictions" in n for n in first.notes), first.notes
    reference = _reference(fresh, "1")
    payload = str(reference["payload"])
    assert reference["payload_sha256"] == hashlib.sha256(payload.encode()).hexdigest()
    assert reference["rows"] == 3 and len(reference["predictions"]) == 3  # type: ignore[arg-type]
    assert reference["computed_by"] == "tester" and "in-process smoke" in str(reference["computed_with"])
    with running_gateway(fresh, NAME, record=False) as url:
        monkeypatch.setattr("mlgate.registry.package.load_package", _no_download)
        result = smoke_endpoint(fresh, NAME, "1", url, wait_seconds=5)
    assert result.passed, result.summary()
    detail = {c.name: c.detail for c in result.checks}["predictions match the registry model"]
    assert (
        detail
        == f"equal to models:/{NAME}/1 predictions computed locally at {reference['computed_at']} (recorded reference)"
    )


def test_without_a_reference_the_endpoint_smoke_computes_now_and_records_one(fresh: Registry) -> None:
    with running_gateway(fresh, NAME, record=False) as url:
        result = smoke_endpoint(fresh, NAME, "2", url)
    assert not result.passed  # the gateway serves v1; the predictions themselves agree
    assert reference_text(fresh, NAME, "2")[0] is None  # a failed test records nothing
    with running_gateway(fresh, NAME, version="2", record=False) as url:
        result = smoke_endpoint(fresh, NAME, "2", url, wait_seconds=5)
    assert result.passed, result.summary()
    detail = {c.name: c.detail for c in result.checks}["predictions match the registry model"]
    assert detail == f"equal to models:/{NAME}/2 predictions computed locally now"
    assert "endpoint smoke of http://127.0.0.1" in str(_reference(fresh, "2")["computed_with"])


def test_an_edited_reference_is_ignored_and_replaced(fresh: Registry) -> None:
    assert smoke_in_process(fresh, NAME, "1").passed
    reference = _reference(fresh, "1")
    edited = str(reference["payload"]).replace("5.1", "9.9")  # the payload no longer matches its sha256
    _edit_reference(fresh, "1", json.dumps({**reference, "payload": edited}))
    with running_gateway(fresh, NAME, record=False) as url:
        result = smoke_endpoint(fresh, NAME, "1", url, wait_seconds=5)
        assert result.passed, result.summary()
        assert any("was ignored: its payload does not match its sha256" in n for n in result.notes), result.notes
        assert {c.name: c.detail for c in result.checks}["predictions match the registry model"].endswith("now")
        assert _reference(fresh, "1")["payload"] == reference["payload"]  # a valid one took its place
        _edit_reference(fresh, "1", "{not json")
        unparsable = smoke_endpoint(fresh, NAME, "1", url)
    assert unparsable.passed and any("is not valid JSON" in n for n in unparsable.notes)


def test_a_reference_the_endpoint_disagrees_with_is_checked_by_loading_the_model(fresh: Registry) -> None:
    assert smoke_in_process(fresh, NAME, "1").passed
    reference = _reference(fresh, "1")
    wrong = {**reference, "predictions": [7, 7, 7]}  # consistent digest, wrong predictions (e.g. stale)
    _edit_reference(fresh, "1", json.dumps(wrong))
    with running_gateway(fresh, NAME, record=False) as url:
        result = smoke_endpoint(fresh, NAME, "1", url, wait_seconds=5)
    assert result.passed, result.summary()
    assert any("disagreed with the recorded smoke reference" in n for n in result.notes), result.notes
    assert _reference(fresh, "1")["predictions"] == reference["predictions"]


def test_a_reference_too_big_is_not_recorded_and_the_result_says_so(
    fresh: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mlgate.release.smoke.reference.REFERENCE_MAX_CHARS", 100)
    result = smoke_in_process(fresh, NAME, "1")
    assert result.passed
    assert any(n.startswith("smoke reference not recorded: it would take") for n in result.notes), result.notes
    assert reference_text(fresh, NAME, "1")[0] is None
    assert "not recorded" in " ".join(result.to_dict()["notes"])


def test_a_cli_endpoint_smoke_with_a_reference_imports_no_sklearn(
    cli_env: Settings, model_uri: str, card_path: Path
) -> None:
    registry = Registry.from_settings(cli_env)
    api.register(NAME, model_uri, card_path, registry=registry)
    registry.set_alias(NAME, "production", "1")
    assert smoke_in_process(registry, NAME, "1").passed
    script = (
        "import sys\nfrom mlgate.cli import main\n"
        "try:\n    main(['smoke', 'iris', '--endpoint', sys.argv[1]])\n"
        "except SystemExit as exit:\n    code = exit.code\n"
        "print('sklearn imported' if 'sklearn' in sys.modules else 'no sklearn', code)\n"
    )
    with running_gateway(registry, NAME, record=False) as url:
        done = subprocess.run([sys.executable, "-c", script, url], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "recorded reference" in done.stdout and done.stdout.strip().endswith("no sklearn 0"), done.stdout


# --- asking the gateway to reload ------------------------------------------------------------------------
def test_the_admin_token_makes_a_slowly_polling_gateway_switch_at_once_and_never_shows(
    tmp_path: Path, template_store: tuple[Path, str], caplog: pytest.LogCaptureFixture
) -> None:
    token = "adm-" + uuid.uuid4().hex
    base = module_registry(tmp_path, template_store, versions=2, endpoint_wait_seconds=10.0)
    with running_gateway(base, NAME, poll_seconds=30, admin_token=token, record=False) as url:
        patient = Registry(base.client, base.settings.with_overrides(endpoint=str(url), endpoint_wait_seconds=1.0))
        base.set_alias(NAME, "production", "2")
        waited = post_deploy_smoke(patient, NAME, "2")
        assert not waited.passed and "still does not serve v2" in waited.summary()  # the poll is 30 s away
        reg = Registry(base.client, base.settings.with_overrides(endpoint=str(url), admin_token=token))
        api.promote(NAME, "1", "production", force=True, reason="first release", registry=reg)
        start = time.monotonic()
        promoted = api.promote(NAME, "2", "production", force=True, reason="new model", registry=reg)
        assert "POST /admin/reload" in api.rollback(NAME, dry_run=True, registry=reg).plan.smoke_test
        rolled = api.rollback(NAME, reason="bad predictions", registry=reg)
        elapsed = time.monotonic() - start
        assert httpx.get(url + "/version").json()["production"] == "1"
    for result in (promoted.smoke, rolled.smoke):
        assert result is not None and result.passed, result
        served = {c.name: c.detail for c in result.checks}["endpoint serves the version"]
        assert "asked it to reload: done" in served, served
    assert elapsed < 10, elapsed  # without the nudge each would wait for the 30 s poll
    with running_gateway(base, NAME, poll_seconds=30, admin_token=token, record=False) as url:
        wrong = base.settings.with_overrides(endpoint=str(url), endpoint_wait_seconds=1.0, admin_token="not-" + token)
        base.set_alias(NAME, "production", "2")
        refused = post_deploy_smoke(Registry(base.client, wrong), NAME, "2")
    assert "asked it to reload: HTTP 401 (the admin token was refused)" in refused.summary()
    shown = json.dumps([r.to_dict() for r in (waited, promoted.smoke, rolled.smoke, refused) if r])
    history = json.dumps([e.to_json() for e in reg.events(NAME)])
    assert token not in shown + history + caplog.text
