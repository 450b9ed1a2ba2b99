"""Alert targets on the platforms a team runs: a real Alertmanager (grouping, re-sending, resolution, silences)
and PagerDuty's Events API v2 (checked by a schema validator); failures are recorded, never raised."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from mlgate.alerts import Alert, AlertRouter
from mlgate.config import Settings
from mlgate.exceptions import ConfigError
from tests.alertmanager_support import WAIT, Alertmanager, EventsReceiver

OWNER = "ml-platform@example.com"
PD_KEY = "R0UT1NGKEY0123456789abcdefABCDEF"  # 32 characters, like a PagerDuty integration key


def project(tmp_path: Path, targets: dict[str, Any], tracking_uri: str | None = None) -> Settings:
    """Settings whose owners.yaml sends every alert of OWNER (day and night) to ``targets``."""
    config = tmp_path / "mlflow_config"
    config.mkdir(exist_ok=True)
    owners = {
        "targets": targets,
        "owners": {OWNER: {"business_hours": {"person": "alice@example.com", "targets": sorted(targets)}}},
    }
    (config / "owners.yaml").write_text(yaml.safe_dump(owners))
    uri = tracking_uri or f"sqlite:///{tmp_path / 'mlflow.db'}"
    return Settings(tracking_uri=uri, registry_uri=uri, config_dir=config)


def router(settings: Settings, tmp_path: Path) -> AlertRouter:
    return AlertRouter(settings, session=requests.Session(), sleep=lambda s: None,
                       state_path=tmp_path / "alerts-state.json", backoff=0.01, timeout=3)  # fmt: skip


def alert(model: str, signal: str, severity: str = "warning", value: float = 0.31, **extra: Any) -> Alert:
    return Alert(model=model, signal=signal, severity=severity, summary=f"{model} v3: {signal} = {value}",
                 version="3", value=value, threshold=0.2, owner=OWNER, **extra)  # fmt: skip


def fraud(notification: dict[str, Any]) -> bool:
    return bool(notification["groupLabels"].get("model") == "fraud")


def signals_of(notification: dict[str, Any]) -> set[str]:
    return {a["labels"]["signal"] for a in notification["alerts"]}


def test_alertmanager_groups_a_models_signals_keeps_them_open_and_resolves_them(
    alertmanager: Alertmanager, tmp_path: Path
) -> None:
    settings = project(tmp_path, {"am": {"kind": "alertmanager", "url": alertmanager.url, "expires": "2h",
                                         "runbook_url": "https://wiki.example/runbooks/{model}"}})  # fmt: skip
    alerts = router(settings, tmp_path)
    details = {"report": "https://reports.example/fraud-latest.html"}
    first = alerts.fire(alert("fraud", "drift.max_psi", details=details))
    second = alerts.fire(alert("fraud", "health.error_rate", "critical", 0.12))
    assert first.action == second.action == "sent" and first.delivered and second.delivered

    # Alertmanager groups them by model: ONE notification carries both signals
    group = alertmanager.sink.wait_for(fraud)
    assert group["status"] == "firing" and signals_of(group) == {"drift.max_psi", "health.error_rate"}
    by_signal = {a["labels"]["signal"]: a for a in group["alerts"]}
    psi = by_signal["drift.max_psi"]
    assert {k: psi["labels"][k] for k in ("model", "version", "signal", "severity", "owner")} == {
        "model": "fraud", "version": "3", "signal": "drift.max_psi", "severity": "warning", "owner": OWNER,
    }  # fmt: skip
    assert by_signal["health.error_rate"]["labels"]["severity"] == "critical"
    assert psi["annotations"]["summary"] == "fraud v3: drift.max_psi = 0.31"
    assert (
        "threshold 0.2" in psi["annotations"]["description"]
        and "alice@example.com" in psi["annotations"]["description"]
    )
    assert psi["annotations"]["runbook"] == "https://wiki.example/runbooks/fraud"
    assert psi["generatorURL"] == details["report"]

    # each pass re-sends a firing alert: Alertmanager's copy is refreshed, and nobody is notified twice
    (before,) = alertmanager.alerts(model="fraud", signal="drift.max_psi")
    again = alerts.fire(alert("fraud", "drift.max_psi", value=0.35, details=details))
    assert again.action == "deduplicated" and again.delivered and [d.target for d in again.deliveries] == ["am"]
    (after,) = alertmanager.alerts(model="fraud", signal="drift.max_psi")
    assert after["updatedAt"] > before["updatedAt"] and after["startsAt"] == before["startsAt"]
    assert after["status"]["state"] == "active" and "0.35" in after["annotations"]["summary"]
    time.sleep(1.5 * WAIT)  # a group interval passes after the re-send
    assert len([n for n in alertmanager.sink.bodies() if fraud(n)]) == 1, "the re-sent alert must not notify again"

    # resolving through endsAt: a resolved notification for the group follows
    assert alerts.resolve("fraud", "drift.max_psi").delivered
    assert alerts.resolve("fraud", "health.error_rate").delivered
    alertmanager.sink.wait_for(lambda n: fraud(n) and n["status"] == "resolved")
    notified = [a for n in alertmanager.sink.bodies() if fraud(n) for a in n["alerts"] if a["status"] == "resolved"]
    assert {a["labels"]["signal"] for a in notified} == {"drift.max_psi", "health.error_rate"}
    assert alerts.firing() == {}


def test_a_silence_created_in_alertmanager_stops_delivery(alertmanager: Alertmanager, tmp_path: Path) -> None:
    settings = project(tmp_path, {"am": {"kind": "alertmanager", "url": alertmanager.url}})
    alerts = router(settings, tmp_path)
    silence = alertmanager.silence(model="quiet")
    assert alerts.fire(alert("quiet", "drift.max_psi")).delivered  # mlgate hands it over; Alertmanager decides
    assert alerts.fire(alert("loud", "drift.max_psi")).delivered
    alertmanager.sink.wait_for(lambda n: n["groupLabels"].get("model") == "loud")
    (quiet,) = alertmanager.alerts(model="quiet")
    assert quiet["status"]["state"] == "suppressed" and quiet["status"]["silencedBy"] == [silence]
    time.sleep(2 * WAIT)  # both were fired together: an unsilenced "quiet" group would have arrived with "loud"
    assert not [n for n in alertmanager.sink.bodies() if n["groupLabels"].get("model") == "quiet"]


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def test_an_unreachable_alertmanager_is_one_line_naming_it_and_the_alert_waits_in_the_outbox(tmp_path: Path) -> None:
    url = closed_port_url()
    alerts = router(project(tmp_path, {"am": {"kind": "alertmanager", "url": url}}), tmp_path)
    note = alerts.fire(alert("fraud", "drift.max_psi"))  # never raises
    (failed,) = note.deliveries
    assert not failed.ok and failed.attempts == 3 and failed.error is not None
    assert f"Alertmanager at {url}/api/v2/alerts did not answer" in failed.error and "\n" not in failed.error
    assert "check that it is running" in failed.error and "'am' in owners.yaml" in failed.error
    assert [item["target"] for item in alerts.outbox()] == ["am"]
    alerts.fire(alert("fraud", "drift.max_psi"))  # the next pass re-sends: the newer message replaces the older
    assert len(alerts.outbox()) == 1
    alerts.resolve("fraud", "drift.max_psi")  # and a resolution replaces a firing that was never delivered
    assert [item["message"]["event"] for item in alerts.outbox()] == ["alert.resolved"]


def test_pagerduty_events_are_valid_v2_keyed_by_model_and_signal_and_never_store_the_key(
    pagerduty: EventsReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_PD_KEY", PD_KEY)
    targets = {"pd": {"kind": "pagerduty", "url": pagerduty.url, "routing_key_env": "TEST_PD_KEY"}}
    settings = project(tmp_path, targets, tracking_uri="https://ci:hunter2@mlflow.example")
    alerts = router(settings, tmp_path)
    details = {"report": "https://reports.example/fraud-latest.html", "source": "gateway record"}
    note = alerts.fire(alert("fraud", "drift.max_psi", "critical", details=details))
    assert note.delivered and note.deliveries[0].status == 202, pagerduty.refused
    (trigger,) = pagerduty.accepted
    assert pagerduty.paths == ["/v2/enqueue"] and trigger["routing_key"] == PD_KEY
    assert trigger["event_action"] == "trigger" and trigger["dedup_key"] == "mlgate/fraud/drift.max_psi"
    payload = trigger["payload"]
    assert payload["summary"] == "fraud v3: drift.max_psi = 0.31" and payload["severity"] == "critical"
    assert payload["source"] == "mlgate/fraud" and payload["component"] == "fraud"
    custom = payload["custom_details"]
    assert (custom["owner"], custom["on_duty"], custom["version"], custom["value"]) == (
        OWNER,
        "alice@example.com",
        "3",
        0.31,
    )
    assert custom["runbook"].startswith("mlgate runbook fraud")
    hrefs = [link["href"] for link in trigger["links"]]
    assert hrefs == [details["report"], "https://mlflow.example/#/models/fraud/versions/3"]  # no password in a link

    assert alerts.fire(alert("fraud", "drift.max_psi", "critical")).action == "deduplicated"
    assert len(pagerduty.accepted) == 1  # PagerDuty escalates by itself: one trigger per incident
    assert alerts.resolve("fraud", "drift.max_psi").delivered
    resolve = pagerduty.accepted[-1]
    assert resolve == {"routing_key": PD_KEY, "event_action": "resolve", "dedup_key": trigger["dedup_key"]}
    alerts.fire(alert("fraud", "health.p99_latency_ms", "warning"))
    assert pagerduty.accepted[-1]["payload"]["severity"] == "warning"
    assert pagerduty.accepted[-1]["dedup_key"] == "mlgate/fraud/health.p99_latency_ms"
    assert PD_KEY not in (tmp_path / "alerts-state.json").read_text()
    assert PD_KEY not in repr(alerts.duty(alert("fraud", "x")).to_dict()) + repr(alerts.duty(alert("fraud", "x")))


def test_the_events_validator_refuses_what_pagerduty_refuses(pagerduty: EventsReceiver) -> None:
    bad = {"routing_key": "short", "event_action": "trigger", "payload": {"summary": "x" * 1025, "severity": "high"}}
    answer = requests.post(f"{pagerduty.url}/v2/enqueue", json=bad, timeout=5)
    assert answer.status_code == 400
    errors = " | ".join(answer.json()["errors"])
    for expected in ("routing_key", "payload.summary", "payload.source", "payload.severity"):
        assert expected in errors
    unknown_action = {"routing_key": PD_KEY, "event_action": "fire", "dedup_key": "k"}
    assert "event_action" in requests.post(f"{pagerduty.url}/v2/enqueue", json=unknown_action, timeout=5).text
    unresolvable = {"routing_key": PD_KEY, "event_action": "resolve"}
    assert requests.post(f"{pagerduty.url}/v2/enqueue", json=unresolvable, timeout=5).status_code == 400
    assert pagerduty.accepted == []


def test_a_missing_routing_key_is_a_problem_reported_not_a_crash_and_never_a_file_setting(
    pagerduty: EventsReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_PD_KEY", raising=False)
    targets = {"pd": {"kind": "pagerduty", "url": pagerduty.url, "routing_key_env": "TEST_PD_KEY"}}
    alerts = router(project(tmp_path, targets), tmp_path)
    note = alerts.fire(alert("fraud", "drift.max_psi", "critical"))
    assert not note.delivered and "TEST_PD_KEY" in str(note.deliveries[0].error)
    assert pagerduty.accepted == [] and pagerduty.refused == []
    in_file = {"pd": {"kind": "pagerduty", "routing_key": PD_KEY}}
    with pytest.raises(ConfigError, match="routing_key"):
        router(project(tmp_path, in_file), tmp_path).duty(alert("fraud", "x"))
    no_env = {"pd": {"kind": "pagerduty"}}
    with pytest.raises(ConfigError, match="routing_key_env"):
        router(project(tmp_path, no_env), tmp_path).duty(alert("fraud", "x"))
    default = {"pd": {"kind": "pagerduty", "routing_key_env": "TEST_PD_KEY"}}
    target = router(project(tmp_path, default), tmp_path).duty(alert("fraud", "x")).targets[0]
    assert target.url == "https://events.pagerduty.com"
