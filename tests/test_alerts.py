"""Alert routing and delivery: owners by time of day, real webhook receiver, retries, de-duplication, HMAC, outbox."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
import yaml

from mlgate.alerts import Alert, AlertRouter, load_rules, on_duty, verify_signature
from mlgate.alerts.delivery import SIGNATURE_HEADER, TIMESTAMP_HEADER
from mlgate.config import Settings
from mlgate.exceptions import ConfigError
from tests.alert_helpers import OWNER, SECRET, Receiver, write_owners


class Clock:
    """An injectable clock the test moves by hand."""

    def __init__(self, moment: datetime) -> None:
        self.now = moment.timestamp()

    def __call__(self) -> float:
        return self.now


# Wednesday 2026-11-25: 10:00 UTC is 11:00 in Paris (business hours), 21:00 UTC is 22:00 (out of hours).
WEDNESDAY_MORNING = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
WEDNESDAY_NIGHT = datetime(2026, 11, 25, 21, 0, tzinfo=UTC)
SATURDAY_MORNING = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def router(settings: Settings, clock: Clock, tmp_path: Path) -> AlertRouter:
    return AlertRouter(
        settings, session=requests.Session(), clock=clock, sleep=lambda s: None,
        state_path=tmp_path / "alerts-state.json", backoff=0.01, timeout=2,
    )  # fmt: skip


def alert(severity: str = "critical", value: float = 0.31) -> Alert:
    return Alert(
        model="iris", signal="drift.max_psi", severity=severity, summary="PSI 0.31 on petal_width",
        details={"column": "petal_width"}, version="3", value=value, threshold=0.2, owner=OWNER,
    )  # fmt: skip


def test_on_duty_follows_the_time_of_day_in_the_owners_timezone(
    settings: Settings, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_owners(settings, receiver.url, monkeypatch)
    day = on_duty(settings, OWNER, WEDNESDAY_MORNING)
    assert (day.person, day.period, [t.name for t in day.targets]) == (
        "alice@example.com",
        "business_hours",
        ["team-slack"],
    )
    night = on_duty(settings, OWNER, WEDNESDAY_NIGHT)
    assert (night.person, night.period) == ("ml-oncall", "out_of_hours")
    assert on_duty(settings, OWNER, SATURDAY_MORNING).person == "ml-oncall"
    assert night.route_for("warning").person == "alice@example.com"  # no page at night for a warning
    assert night.escalation is not None and night.escalate_after_seconds == 1800
    assert day.problems() == []


def test_owner_without_a_route_names_the_owner_and_the_file(
    settings: Settings, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_owners(settings, receiver.url, monkeypatch)
    with pytest.raises(ConfigError, match=r"nobody@example.com.*owners.yaml"):
        on_duty(settings, "nobody@example.com")


def test_missing_secret_is_reported_as_a_problem_not_a_crash(
    settings: Settings, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_owners(settings, receiver.url, monkeypatch)
    monkeypatch.delenv("TEST_WEBHOOK_SECRET")
    duty = on_duty(settings, OWNER, WEDNESDAY_NIGHT)
    assert duty.problems() == [
        "target 'pager': environment variable TEST_WEBHOOK_SECRET (its signing secret) is not set"
    ]


def test_signed_json_is_delivered_retried_after_a_500_and_verifiable(
    settings: Settings, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write_owners(settings, receiver.url, monkeypatch)
    receiver.statuses = [500]
    note = router(settings, Clock(WEDNESDAY_NIGHT), tmp_path).fire(alert())
    assert note.action == "sent" and note.person == "ml-oncall" and note.delivered
    assert [r["answered"] for r in receiver.received] == [500, 200]
    assert note.deliveries[0].attempts == 2
    request = receiver.received[-1]
    assert request["path"] == "/pager"
    headers = request["headers"]
    assert verify_signature(SECRET, request["body"], headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER],
                            now=WEDNESDAY_NIGHT.timestamp())  # fmt: skip
    assert not verify_signature("wrong", request["body"], headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER],
                                now=WEDNESDAY_NIGHT.timestamp())  # fmt: skip
    assert not verify_signature(SECRET, request["body"] + b" ", headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER],
                                now=WEDNESDAY_NIGHT.timestamp())  # fmt: skip
    body = json.loads(request["body"])
    assert body["event"] == "alert.firing" and body["model"] == "iris" and body["person"] == "ml-oncall"


def test_slack_message_dedup_while_firing_then_resolved(
    settings: Settings, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write_owners(settings, receiver.url, monkeypatch)
    clock = Clock(WEDNESDAY_MORNING)
    first = router(settings, clock, tmp_path).fire(alert("warning"))
    clock.now += 600
    second = router(settings, clock, tmp_path).fire(alert("warning", 0.4))  # a new process: state is on disk
    assert (first.action, second.action) == ("sent", "deduplicated")
    assert len(receiver.received) == 1
    slack = json.loads(receiver.received[0]["body"])
    assert receiver.received[0]["path"] == "/slack" and "FIRING" in slack["text"] and slack["blocks"]
    done = router(settings, clock, tmp_path).resolve("iris", "drift.max_psi")
    assert done.action == "resolved" and done.delivered
    assert "RESOLVED" in json.loads(receiver.received[-1]["body"])["text"]
    assert router(settings, clock, tmp_path).resolve("iris", "drift.max_psi").action == "not-firing"
    assert router(settings, clock, tmp_path).fire(alert("warning")).action == "sent"  # fires again after clearing


def test_escalation_after_the_delay_while_still_firing(
    settings: Settings, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write_owners(settings, receiver.url, monkeypatch)
    clock = Clock(WEDNESDAY_MORNING)
    route = router(settings, clock, tmp_path)
    route.fire(alert())
    clock.now += 29 * 60
    assert route.fire(alert()).action == "deduplicated"
    clock.now += 2 * 60
    escalated = route.fire(alert())
    assert escalated.action == "escalated" and escalated.person == "head-of-ml@example.com"
    assert json.loads(receiver.received[-1]["body"])["event"] == "alert.escalated"
    clock.now += 3600
    assert route.fire(alert()).action == "deduplicated"  # escalates once
    route.resolve("iris", "drift.max_psi")
    assert {r["path"] for r in receiver.received[-2:]} == {"/slack", "/pager"}  # everyone who heard it hears it clear


def test_failed_delivery_is_kept_and_retried_later_never_raised(
    settings: Settings, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write_owners(settings, receiver.url, monkeypatch)
    clock = Clock(WEDNESDAY_NIGHT)
    receiver.statuses = [503, 503, 503]
    note = router(settings, clock, tmp_path).fire(alert())
    assert note.action == "sent" and not note.delivered and note.deliveries[0].attempts == 3
    kept = router(settings, clock, tmp_path).outbox()
    assert len(kept) == 1 and kept[0]["target"] == "pager" and kept[0]["error"] == "HTTP 503"
    assert router(settings, clock, tmp_path).flush() == []  # not due yet
    clock.now += 120
    results = router(settings, clock, tmp_path).flush()
    assert [r.ok for r in results] == [True]
    assert router(settings, clock, tmp_path).outbox() == []
    assert json.loads(receiver.received[-1]["body"])["event"] == "alert.firing"


def test_unreachable_receiver_is_a_failed_delivery_not_an_exception(
    settings: Settings, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write_owners(settings, "http://127.0.0.1:9", monkeypatch)  # nothing listens on the discard port
    note = router(settings, Clock(WEDNESDAY_MORNING), tmp_path).fire(alert())
    assert not note.delivered and "ConnectionError" in (note.deliveries[0].error or "")
    assert len(router(settings, Clock(WEDNESDAY_MORNING), tmp_path).outbox()) == 1


def test_alert_rules_are_read_and_validated(settings: Settings) -> None:
    assert settings.config_dir is not None
    path = settings.config_dir / "alerts.yaml"
    path.write_text(yaml.safe_dump({"rules": [
        {"signal": "health.latency_p95_ms", "threshold": 500, "window": "15m", "severity": "critical"},
        {"signal": "kpi.conversion.value", "threshold": 0.1, "op": "<", "models": ["shop"]},
    ]}))  # fmt: skip
    rules = load_rules(settings)
    assert rules[0].window_seconds == 900 and rules[0].breached(650) and not rules[0].breached(None)
    assert rules[1].breached(0.05) and not rules[1].applies_to("iris")
    path.write_text(yaml.safe_dump({"rules": [{"signal": "x", "threshold": 1, "severity": "urgent"}]}))
    with pytest.raises(ConfigError, match="severity 'urgent'"):
        load_rules(settings)


def test_alert_for_an_owner_without_route_is_reported_not_raised(
    settings: Settings, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write_owners(settings, receiver.url, monkeypatch)
    stray = Alert(model="iris", signal="drift.max_psi", severity="critical", owner="nobody@example.com")
    note = router(settings, Clock(WEDNESDAY_MORNING), tmp_path).fire(stray)
    assert note.action == "unrouted" and "nobody@example.com" in (note.error or "") and receiver.received == []
