"""Data quality against a real contract, service health, cost, and every business-KPI source type."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlgate.contracts import parse_contract
from mlgate.exceptions import ConfigError
from mlgate.monitor.cost import cost_of
from mlgate.monitor.health import service_health
from mlgate.monitor.kpi import kpi_signals
from mlgate.monitor.quality import check_quality
from mlgate.stats.kpi import read_kpi
from mlgate.stats.profile import build_profile

CONTRACT = {
    "name": "shop",
    "version": "1.0.0",
    "defaults": {"on_invalid": "reject_row"},
    "columns": [
        {"name": "amount", "type": "float", "nullable": False, "range": {"min": 0, "max": 1000},
         "on_null": {"impute": 0.0}},
        {"name": "items", "type": "int", "nullable": True},
        {"name": "channel", "type": "str", "nullable": False, "allowed": ["web", "app"], "on_null": {"impute": "web"}},
    ],
    "backfill": {"strategy": "forward_only", "description": "nothing to backfill in a test"},
}  # fmt: skip


def shop(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "amount": rng.uniform(1, 500, n),
            "items": rng.integers(1, 5, n).astype("float64"),
            "channel": rng.choice(np.array(["web", "app"]), n),
        }
    )


def test_quality_finds_each_kind_of_anomaly_against_the_contract() -> None:
    contract = parse_contract(CONTRACT, "test")
    reference = shop(2_000)
    profile = build_profile(reference)
    clean = check_quality(shop(500, 1), profile, contract, expected_rows=500)
    assert clean.anomalies == []
    bad = shop(400, 2)
    bad.loc[:9, "amount"] = 5_000.0  # out of range
    bad.loc[10:14, "amount"] = np.nan  # nulls in a non-nullable column
    bad.loc[20:39, "channel"] = "phone"  # a category the contract does not allow
    bad["items"] = bad["items"].astype(object)
    bad.loc[50:52, "items"] = "many"  # type errors
    bad.loc[60, "items"] = 2.5  # not an integer
    result = check_quality(bad, profile, contract, expected_rows=1_000)
    columns = result.columns
    assert columns["amount"].out_of_range_rate == pytest.approx(10 / 400)
    assert columns["amount"].null_rate == pytest.approx(5 / 400)
    assert columns["channel"].unseen_values == ["phone"] and columns["channel"].unseen_rate == pytest.approx(20 / 400)
    assert columns["items"].type_error_rate == pytest.approx(4 / 400)
    assert result.volume_drop == pytest.approx(0.6)
    text = "\n".join(result.anomalies)
    for expected in ("outside [0, 1000]", "non-nullable", "unseen categories: phone", "not numbers", "volume"):
        assert expected in text
    assert result.signals()["quality.out_of_range_rate.max"] == pytest.approx(10 / 400)


def test_quality_without_contract_uses_the_reference_and_reports_missing_columns() -> None:
    profile = build_profile(shop(2_000))
    current = shop(300, 3).drop(columns=["items"])
    current.loc[:99, "amount"] = np.nan
    result = check_quality(current, profile)
    assert result.missing_columns == ["items"]
    assert any("null rate" in a for a in result.anomalies)


def gateway_window(now: datetime) -> pd.DataFrame:
    """A frame shaped like PredictionStore.window(): one row per input row, rows of a request share request_id."""
    rows = []
    for i in range(100):
        status = 500 if i % 10 == 0 else 200
        for j in range(2):  # two input rows per request
            rows.append(
                {"ts": now - timedelta(seconds=600 - i * 6), "model": "m", "version": "1", "route": "production",
                 "request_key": None, "request_id": f"r{i}", "status": status, "latency_ms": float(i + 1),
                 "prediction": None if status >= 400 else j, "amount": 10.0}
            )  # fmt: skip
    return pd.DataFrame(rows)


def test_service_health_counts_requests_once_and_cost_follows() -> None:
    window = gateway_window(datetime(2026, 1, 1, 12, tzinfo=UTC))
    health = service_health(window, window_seconds=600)
    assert health.requests == 100 and health.errors == 10 and health.error_rate == pytest.approx(0.1)
    assert health.latency_p50_ms == pytest.approx(50.5) and health.latency_p99_ms == pytest.approx(99.01)
    assert health.throughput_rps == pytest.approx(100 / 600)
    assert len(health.timeline) > 1
    per_request = cost_of({"cost_per_request": 0.002}, health.requests, health.successes, 600)
    assert per_request is not None and per_request.per_inference == pytest.approx(0.002)
    assert per_request.per_success == pytest.approx(0.2 / 90)
    hourly = cost_of({"instance_cost_per_hour": 3.6, "currency": "EUR"}, 100, 90, 600)
    assert hourly is not None and hourly.total == pytest.approx(0.6) and hourly.per_inference == pytest.approx(0.006)
    assert cost_of(None, 100, 90, 600) is None
    with pytest.raises(ConfigError, match="cost_per_request or instance_cost_per_hour"):
        cost_of({"price": 1}, 1, 1, 1)


# --- business KPIs from each source type -------------------------------------------------------------


def test_kpi_from_csv_averages_the_window(tmp_path: Path) -> None:
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    rows = [{"ts": (now - timedelta(hours=h)).isoformat(), "conversion": 0.10 if h < 1 else 0.20} for h in range(5)]
    pd.DataFrame(rows).to_csv(tmp_path / "kpi.csv", index=False)
    spec = {"name": "conversion", "baseline": 0.2, "threshold": 0.1, "direction": "down",
            "source": {"kind": "csv", "path": "kpi.csv", "column": "conversion", "time_column": "ts"}}  # fmt: skip
    result = read_kpi(spec, since=now - timedelta(minutes=30), until=now + timedelta(seconds=1), base=tmp_path)
    assert result.error is None and result.value == pytest.approx(0.10)
    assert result.change == pytest.approx(-0.5) and result.breached
    steady = read_kpi(spec, since=now - timedelta(hours=5), until=now - timedelta(minutes=30), base=tmp_path)
    assert steady.value == pytest.approx(0.20) and not steady.breached


def test_kpi_from_sql_on_a_real_sqlite_database(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders (ts TEXT, converted INTEGER)")
        conn.executemany(
            "INSERT INTO orders VALUES (?, ?)",
            [("2026-03-01 11:30:00", 1), ("2026-03-01 11:40:00", 0), ("2026-03-01 11:50:00", 1),
             ("2026-03-01 09:00:00", 0)],
        )  # fmt: skip
    spec = {"name": "conv", "baseline": 0.5, "threshold": 0.2, "direction": "both",
            "source": {"kind": "sql", "url": f"sqlite:///{db}",
                       "query": "SELECT avg(converted) FROM orders WHERE ts >= :since AND ts < :until"}}  # fmt: skip
    result = read_kpi(spec, since=datetime(2026, 3, 1, 11, tzinfo=UTC), until=datetime(2026, 3, 1, 12, tzinfo=UTC))
    assert result.error is None and result.value == pytest.approx(2 / 3)
    assert result.breached  # +33 % against a 20 % threshold in either direction
    broken = read_kpi({**spec, "source": {**spec["source"], "query": "SELECT avg(x) FROM missing_table"}})
    assert broken.value is None and "missing_table" in (broken.error or "")
    assert kpi_signals([result, broken])["kpi.errors"] == 1.0


@pytest.fixture
def kpi_server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"data": {"revenue": [{"value": 1234.5}]}}).encode()
            code = 200 if self.path == "/kpi" else 503
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_kpi_from_an_http_json_endpoint(kpi_server: str) -> None:
    spec = {"name": "revenue", "baseline": 1000.0, "threshold": 0.1, "direction": "down",
            "source": {"kind": "http", "url": f"{kpi_server}/kpi", "field": "data.revenue.0.value"}}  # fmt: skip
    result = read_kpi(spec)
    assert result.value == pytest.approx(1234.5) and not result.breached and result.change == pytest.approx(0.2345)
    down = read_kpi({**spec, "source": {**spec["source"], "url": f"{kpi_server}/down"}})
    assert down.value is None and "HTTP 503" in (down.error or "")


def test_unknown_kpi_source_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="source kind"):
        read_kpi({"name": "x", "baseline": 1, "source": {"kind": "ftp"}})
