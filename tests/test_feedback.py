"""Ground truth over real HTTP: labels posted to the gateway or loaded from a file join the prediction record by
request id; a monitoring pass shows realized metrics with label coverage, and CBPE estimates before any label."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from mlgate.cli import main as cli
from mlgate.config import Settings
from mlgate.monitor.run import MonitorOptions, run_pass
from mlgate.registry import Registry
from mlgate.serving import running_gateway
from mlgate.serving.app import REQUEST_ID_HEADER
from mlgate.serving.labels import LabelStore, parse_labels
from mlgate.serving.record import default_store_url
from mlgate.testing.runs import iris_frames, record_training_run, register_recorded, train_iris

NAME = "iris"
TOKEN = "s3cret-feedback"


@pytest.fixture
def production(registry: Registry, settings: Settings) -> str:
    """An iris classifier with its evaluation set (what CBPE calibrates on), in production."""
    run = record_training_run(settings, model=train_iris())
    version = register_recorded(registry, NAME, run.model_uri)
    registry.set_alias(NAME, settings.aliases.production, version)
    return version


def call(url: str, path: str, body: Any, token: str | None = None) -> tuple[int, dict[str, Any], dict[str, str]]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(url + path, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read()), {k.lower(): v for k, v in answer.headers.items()}
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), {k.lower(): v for k, v in error.headers.items()}


def serve_rows(url: str, frame: pd.DataFrame) -> list[str]:
    """One request per row; the request ids the gateway answered with."""
    ids = []
    for i in range(len(frame)):
        row = frame.iloc[[i]]
        status, _, headers = call(url, "/invocations", {"dataframe_split": row.to_dict(orient="split", index=False)})
        assert status == 200
        ids.append(headers[REQUEST_ID_HEADER.lower()])
    return ids


def test_labels_posted_to_the_gateway_become_realized_metrics_and_estimates_come_first(
    registry: Registry, production: str, settings: Settings
) -> None:
    x, y, _ = iris_frames()
    sample = x.sample(60, random_state=1).reset_index(drop=True)
    truth = y.loc[x.sample(60, random_state=1).index].reset_index(drop=True)
    with running_gateway(registry, NAME, poll_seconds=0.2, feedback_token=TOKEN) as url:
        ids = serve_rows(url, sample)
        assert url.gateway.recorder.flush(30)  # type: ignore[attr-defined]

        before = run_pass(registry, NAME, MonitorOptions(alert=False, log_report=False))
        assert before.signals["quality.realized.label_coverage"] == 0.0
        assert "quality.realized.accuracy" not in before.signals
        estimated = before.signals["quality.estimated.accuracy"]
        assert estimated is not None and 0.8 < estimated <= 1.0  # iris is easy: CBPE says so without labels
        band = before.truth.estimated["accuracy"]
        assert band.low <= estimated <= band.high

        assert call(url, "/feedback", {"labels": []})[0] == 403 or TOKEN  # no token sent: refused below
        assert call(url, "/feedback", {"labels": []}, token="wrong")[0] == 401
        assert call(url, "/feedback", b"{not json", token=TOKEN)[0] == 400
        labels = [{"request_id": rid, "label": int(label)} for rid, label in zip(ids[:40], truth[:40], strict=True)]
        wrong = [
            {"request_id": ids[40], "label": {"class": 1}},
            {"request_id": "never-served", "label": 2},
            {"label": 1},
        ]
        status, receipt, _ = call(url, "/feedback", {"labels": labels + wrong}, token=TOKEN)
        assert status == 200
        assert receipt["received"] == 43 and receipt["accepted"] == 41 and receipt["rejected"] == 2
        assert receipt["unknown_request_ids"] == 1  # kept: it joins if that id is ever recorded
        assert {p["index"] for p in receipt["problems"]} == {40, 42}

    after = run_pass(registry, NAME, MonitorOptions(alert=False, log_report=False))
    assert after.signals["quality.realized.labels"] == 40.0
    assert after.signals["quality.realized.label_coverage"] == pytest.approx(40 / 60)
    predicted = after.truth.realized
    assert predicted, after.truth.notes
    assert predicted["accuracy"] == pytest.approx(_accuracy(registry, sample[:40], truth[:40]))
    report = Path(after.report_path or "").read_text()
    assert "Model performance" in report and "realized (labels)" in report and "estimated (CBPE)" in report


def _accuracy(registry: Registry, rows: pd.DataFrame, truth: pd.Series) -> float:
    model = train_iris()
    return float((model.predict(rows) == truth.to_numpy()).mean())


def test_a_late_label_replaces_the_earlier_one_and_bad_items_are_named(settings: Settings) -> None:
    store = LabelStore(default_store_url(settings))
    try:
        labels, problems = parse_labels([
            {"request_id": "a", "label": 1}, {"request_id": "a", "label": 0, "row": 1}, {"request_id": "", "label": 1},
            {"request_id": "b", "label": None}, {"request_id": "c", "label": 1, "row": -1}, "text",
        ])  # fmt: skip
        assert [p["index"] for p in problems] == [2, 3, 4, 5]
        first = store.add(labels, problems)
        assert (first.accepted, first.replaced, first.unknown_request_ids, len(first.problems)) == (2, 0, 2, 4)
        second = store.add(parse_labels([{"request_id": "a", "label": 2}])[0])
        assert second.replaced == 1
        stored = store.labels(["a"]).sort_values("row")
        assert stored["label"].tolist() == [2, 0]
    finally:
        store.close()


def test_feedback_load_reads_a_file_and_counts_what_it_could_not_use(cli_env: Settings, tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    pd.DataFrame({"rid": ["r1", "r2", "r3"], "truth": [1, None, 0]}).to_csv(path, index=False)
    runner = CliRunner()
    done = runner.invoke(cli, ["feedback", "load", str(path), "--request-id-column", "rid", "--label-column", "truth"])
    assert done.exit_code == 1, done.output
    assert "2 of 3 labels stored" in done.output and "row 1: label is missing or null" in done.output
    missing = runner.invoke(cli, ["feedback", "load", str(path)])
    assert (
        missing.exit_code == 2 and "has no column 'request_id'" in missing.output and "Traceback" not in missing.output
    )
    other = tmp_path / "labels.json"
    other.write_text("{}")
    wrong = runner.invoke(cli, ["feedback", "load", str(other)])
    assert wrong.exit_code != 0 and "neither CSV nor Parquet" in wrong.output
