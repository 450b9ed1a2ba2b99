"""The gateway over real HTTP: every scoring format, bad inputs as 4xx JSON, metrics, record, admin."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from mlgate.registry import Registry
from mlgate.registry.package import load_package
from mlgate.serving import RunningGateway, running_gateway
from mlgate.serving.record import PredictionStore, default_store_url
from tests.serving_helpers import FEATURES, NAME, module_registry, rows, split_body

pytestmark = pytest.mark.extra("serve")
TOKEN = "s3cret-admin"


@pytest.fixture(scope="module")
def reg(tmp_path_factory: pytest.TempPathFactory, template_store: tuple[Path, str]) -> Registry:
    return module_registry(tmp_path_factory.mktemp("serving"), template_store, versions=1)


@pytest.fixture(scope="module")
def gateway(reg: Registry) -> Iterator[RunningGateway]:
    with running_gateway(reg, NAME, poll_seconds=0.2, admin_token=TOKEN, max_body_bytes=20_000) as url:
        yield url


@pytest.fixture(scope="module")
def client(gateway: RunningGateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway, timeout=10) as c:
        yield c


@pytest.fixture(scope="module")
def expected(reg: Registry, tmp_path_factory: pytest.TempPathFactory) -> list[int]:
    package = load_package(reg, NAME, "1", tmp_path_factory.mktemp("local"))
    return [int(v) for v in package.model.predict(rows(3))]


def _formats() -> dict[str, tuple[str, str]]:
    frame = rows(3)
    records = frame.to_dict(orient="records")
    return {
        "dataframe_split": ("application/json", json.dumps(split_body(frame))),
        "dataframe_records": ("application/json", json.dumps({"dataframe_records": records})),
        "instances-records": ("application/json", json.dumps({"instances": records})),
        "inputs-columns": ("application/json", json.dumps({"inputs": frame.to_dict(orient="list")})),
        "inputs-positional": ("application/json", json.dumps({"inputs": frame.to_numpy().tolist()})),
        "csv": ("text/csv", frame.to_csv(index=False)),
        "json-charset": ("application/json; charset=utf-8", json.dumps(split_body(frame))),
    }


@pytest.mark.parametrize("fmt", list(_formats()))
def test_every_scoring_format_predicts_like_the_registry_model(
    client: httpx.Client, expected: list[int], fmt: str
) -> None:
    content_type, body = _formats()[fmt]
    answer = client.post("/invocations", content=body, headers={"Content-Type": content_type})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"predictions": expected}
    assert answer.headers["X-Mlgate-Model-Version"] == "1"
    assert answer.headers["X-Mlgate-Route"] == "production"


def test_columns_in_another_order_and_extra_columns_are_accepted(client: httpx.Client, expected: list[int]) -> None:
    frame = rows(3)[list(reversed(FEATURES))].assign(customer_id=[7, 8, 9])
    answer = client.post("/invocations", json=split_body(frame))
    assert answer.status_code == 200 and answer.json()["predictions"] == expected


def _bad(client: httpx.Client, **kwargs: object) -> dict[str, object]:
    answer = client.post("/invocations", **kwargs)  # type: ignore[arg-type]
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert "Traceback" not in answer.text and 'File "' not in answer.text
    body = answer.json()
    body["status"] = answer.status_code
    return body


def test_null_in_a_non_nullable_column_is_a_422_naming_the_column(client: httpx.Client) -> None:
    frame = rows(2).astype(object)
    frame.loc[1, "sepal_width"] = None
    body = _bad(client, json=split_body(frame))
    assert body["status"] == 422
    assert body["problems"] == [
        {"column": "sepal_width", "problem": "null value in a non-nullable double column", "rows": 1}
    ]


def test_wrong_type_is_a_422_naming_the_column_and_value(client: httpx.Client) -> None:
    frame = rows(2).astype(object)
    frame.loc[0, "petal_length"] = "long"
    body = _bad(client, json=split_body(frame))
    assert body["status"] == 422
    [problem] = body["problems"]  # type: ignore[misc]
    assert problem["column"] == "petal_length"
    assert "expected double" in problem["problem"] and "'long'" in problem["problem"]


def test_missing_column_is_a_422_naming_it(client: httpx.Client) -> None:
    body = _bad(client, json=split_body(rows(2).drop(columns=["petal_width"])))
    assert body["status"] == 422
    assert body["problems"] == [{"column": "petal_width", "problem": "missing column", "rows": 2}]


@pytest.mark.parametrize(
    ("content", "content_type", "status", "says"),
    [
        ('{"dataframe_split": {"columns": ["a"], "data": [[1]', "application/json", 400, "not valid JSON"),
        ('{"rows": []}', "application/json", 400, "exactly one of"),
        ("sepal_length=1", "application/x-www-form-urlencoded", 415, "unsupported content type"),
        ('{"dataframe_split": {"columns": [], "data": []}}', "application/json", 400, "no rows"),
    ],
)
def test_malformed_requests_get_a_clear_4xx(
    client: httpx.Client, content: str, content_type: str, status: int, says: str
) -> None:
    body = _bad(client, content=content, headers={"Content-Type": content_type})
    assert body["status"] == status
    assert says in str(body["message"])


def test_oversized_body_gets_413(client: httpx.Client) -> None:
    body = _bad(client, json=split_body(rows(150).sample(2000, replace=True)))
    assert body["status"] == 413
    assert "over the limit of 20000 bytes" in str(body["message"])


def test_oversized_chunked_body_gets_413(client: httpx.Client) -> None:
    payload = json.dumps(split_body(rows(150).sample(2000, replace=True))).encode()
    chunks = (payload[i : i + 4096] for i in range(0, len(payload), 4096))
    body = _bad(client, content=chunks, headers={"Content-Type": "application/json"})
    assert body["status"] == 413


def test_ping_health_and_version(client: httpx.Client) -> None:
    assert client.get("/ping").status_code == 200
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["serving"]["production"]["version"] == "1"
    version = client.get("/version").json()
    assert version["model"] == NAME and version["production"] == "1" and version["canary"] is None
    assert version["mlflow"].startswith("3.")


def test_metrics_count_requests_errors_and_latency_per_version(client: httpx.Client) -> None:
    client.post("/invocations", json=split_body(rows(1)))
    client.post("/invocations", content="{", headers={"Content-Type": "application/json"})
    text = client.get("/metrics").text
    assert 'mlgate_requests_total{model="iris",route="production",status="200",version="1"}' in text
    assert 'mlgate_errors_total{model="iris",reason="bad_input",route="production",version="1"}' in text
    assert 'mlgate_request_latency_seconds_bucket{le="0.005",model="iris",route="production",version="1"}' in text
    assert 'mlgate_serving_version{model="iris",route="production",version="1"} 1.0' in text


def test_inputs_and_predictions_are_recorded_per_row(
    client: httpx.Client, gateway: RunningGateway, reg: Registry, expected: list[int]
) -> None:
    client.post("/invocations", json=split_body(rows(3)), headers={"X-Mlgate-Request-Key": "customer-42"})
    assert gateway.gateway.recorder is not None
    gateway.gateway.recorder.flush()
    window = PredictionStore(default_store_url(reg.settings)).window(NAME, version="1")
    mine = window[window["request_key"] == "customer-42"]
    assert mine["prediction"].tolist() == expected
    assert np.allclose(mine[FEATURES].to_numpy(), rows(3).to_numpy())
    assert set(mine["route"]) == {"production"} and set(mine["status"]) == {200}
    assert (window["status"] == 422).any()  # refused requests are recorded too


def test_admin_reload_refuses_without_its_token(client: httpx.Client) -> None:
    assert client.post("/admin/reload").status_code == 401
    assert client.post("/admin/reload", headers={"X-Mlgate-Admin-Token": "guess"}).status_code == 401
    answer = client.post("/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    assert answer.json()["serving"] == {"production": "1"}


def test_admin_endpoint_is_disabled_without_a_configured_token(reg: Registry) -> None:
    with running_gateway(reg, NAME, version="1", record=False) as url:
        answer = httpx.post(url + "/admin/reload", headers={"X-Mlgate-Admin-Token": "anything"})
    assert answer.status_code == 403
    assert "MLGATE_ADMIN_TOKEN" in answer.json()["message"]
