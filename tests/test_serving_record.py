"""The prediction record: rows per input row, filters, retention per version, service figures."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlgate.config import Settings
from mlgate.serving.record import PredictionStore, Served, default_store_url
from mlgate.serving.record_writer import RecordWriter
from mlgate.stats.requests import request_figures


@pytest.fixture
def store(tmp_path: Path) -> PredictionStore:
    return PredictionStore(f"sqlite:///{tmp_path / 'predictions.db'}", retention_rows=50)


def frame(n: int, offset: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame({"a": np.arange(n) + offset, "b": ["x"] * n})


def test_window_has_one_row_per_input_row_with_feature_columns(store: PredictionStore) -> None:
    store.record("m", "1", "production", 200, 3.5, frame(3), np.array([0, 1, 2]), request_key="k1")
    store.record("m", "1", "production", 422, 1.0)
    window = store.window("m")
    assert list(window.columns[:8]) == [
        "ts",
        "model",
        "version",
        "route",
        "request_key",
        "status",
        "latency_ms",
        "prediction",
    ]
    assert len(window) == 4
    ok = window[window["status"] == 200]
    assert ok["prediction"].tolist() == [0, 1, 2]
    assert ok["a"].tolist() == [0.0, 1.0, 2.0]
    assert ok["b"].tolist() == ["x", "x", "x"]
    failed = window[window["status"] == 422]
    assert len(failed) == 1 and failed["prediction"].iloc[0] is None
    assert str(window["ts"].dt.tz) == "UTC"


def test_window_filters_by_version_route_and_time(store: PredictionStore) -> None:
    now = datetime.now(UTC)
    store.record("m", "1", "production", 200, 1.0, frame(1), [0], ts=now - timedelta(hours=2))
    store.record("m", "2", "canary", 200, 1.0, frame(1), [1], ts=now - timedelta(minutes=5))
    store.record("other", "1", "production", 200, 1.0, frame(1), [1], ts=now)
    assert store.window("m", version="2")["version"].tolist() == ["2"]
    assert store.window("m", route="canary")["route"].tolist() == ["canary"]
    assert store.window("m", since=now - timedelta(hours=1))["version"].tolist() == ["2"]
    assert store.window("m", until=now - timedelta(hours=1))["version"].tolist() == ["1"]
    assert store.window("nothing").empty


def test_a_window_without_inputs_has_the_same_rows_and_no_feature_columns(store: PredictionStore) -> None:
    store.record("m", "1", "production", 200, 3.5, frame(3), np.array([0, 1, 2]))
    store.record("m", "1", "canary", 500, 9.0)
    full, lean = store.window("m"), store.window("m", inputs=False)
    assert {"a", "b"} <= set(full.columns) and not {"a", "b"} & set(lean.columns)
    assert lean["prediction"].tolist()[:3] == [0, 1, 2] and lean["status"].tolist() == full["status"].tolist()


def test_retention_keeps_the_newest_rows_of_each_version(store: PredictionStore) -> None:
    for i in range(30):
        store.record("m", "1", "production", 200, 1.0, frame(3, offset=i * 10), [0, 0, 0])
    store.record("m", "2", "production", 200, 1.0, frame(2), [1, 1])
    v1 = store.window("m", version="1")
    assert len(v1) == 50
    assert v1["a"].max() == 292.0  # the newest rows survive
    assert len(store.window("m", version="2")) == 2  # another version is not trimmed by v1's volume


def test_figures_from_the_record_count_requests_not_rows(store: PredictionStore) -> None:
    start = datetime.now(UTC) - timedelta(seconds=10)
    for i in range(9):
        store.record("m", "1", "production", 200, 10.0 + i, frame(5), [0] * 5, ts=start + timedelta(seconds=i))
    store.record("m", "1", "production", 500, 100.0, ts=start + timedelta(seconds=9))
    figures = request_figures(store.window("m"))  # what canary analysis and monitoring compute from it
    assert figures.requests == 10
    assert figures.errors == 1
    assert figures.error_rate == pytest.approx(0.1)
    assert figures.latency_p50_ms == pytest.approx(14.5)


def test_record_writer_process_writes_every_request_and_applies_retention(store: PredictionStore) -> None:
    recorder = RecordWriter(store.url, store.retention_rows)
    try:
        for i in range(200):
            recorder.submit(Served(1e9 + i, "m", "1", "production", f"r{i}", None, 200, 1.0, frame(1), np.array([i])))
        assert recorder.flush()
        assert recorder.written == 200 and recorder.dropped == 0
        window = store.window("m")
        assert len(window) == 50  # the version's retention
        assert window["prediction"].tolist()[-1] == 199  # the newest kept, decoded back
    finally:
        recorder.close()
    assert not recorder.running


def test_a_steady_trickle_is_written_promptly_without_any_flush(store: PredictionStore) -> None:
    recorder = RecordWriter(store.url, store.retention_rows)
    try:
        deadline = time.monotonic() + 6.0  # the writer's start-up (imports) counts too; a 1000-row batch takes 50 s
        i = 0
        while time.monotonic() < deadline and recorder.written == 0:
            recorder.submit(Served(1e9 + i, "m", "1", "production", f"r{i}", None, 200, 1.0, frame(1), np.array([i])))
            i += 1
            time.sleep(0.05)  # 20 requests/s: never a pause long enough to look idle
        assert recorder.written > 0
    finally:
        recorder.close()


def test_a_dead_record_writer_drops_and_counts_then_comes_back(
    store: PredictionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mlgate.serving.record_writer.RESTART_AFTER_SECONDS", 0.2)
    recorder = RecordWriter(store.url, store.retention_rows)
    try:
        recorder.submit(Served(1e9, "m", "1", "production", "first", None, 200, 1.0, frame(1), np.array([1])))
        assert recorder.flush()
        assert recorder._proc is not None
        recorder._proc.kill()
        recorder._proc.wait(5)
        served = Served(1e9 + 1, "m", "1", "production", "lost", None, 200, 1.0, frame(1), np.array([2]))
        recorder.submit(served)  # the writer is gone: counted, never raised to the request
        assert recorder.dropped >= 1 and not recorder.running
        time.sleep(0.3)
        recorder.submit(Served(1e9 + 2, "m", "1", "production", "back", None, 200, 1.0, frame(1), np.array([3])))
        assert recorder.running
        assert recorder.flush()
    finally:
        recorder.close()
    assert len(store.window("m")) == 2  # before the kill and after the restart; the one in between is counted


def test_default_store_sits_beside_a_sqlite_tracking_store(settings: Settings) -> None:
    url = default_store_url(settings)
    assert url.startswith("sqlite:///") and url.endswith("predictions.db")
    assert Path(url[len("sqlite:///") :]).parent == Path(settings.tracking_uri[len("sqlite:///") :]).parent
    explicit = settings.with_overrides(prediction_store_url="postgresql://team@db/mlgate")
    assert default_store_url(explicit) == "postgresql://team@db/mlgate"
