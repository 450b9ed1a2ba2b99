"""The gateway follows the registry: alias switches under load, broken versions, canary split, contracts."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from mlgate import api
from mlgate.registry import Registry, keys
from mlgate.registry.package import load_package
from mlgate.serving import running_gateway
from mlgate.serving.router import bucket, choose
from tests.serving_helpers import NAME, drive, module_registry, rows, split_body

CONTRACT = Path(__file__).parent / "data" / "iris_contract.yaml"


@pytest.fixture
def reg(tmp_path: Path, template_store: tuple[Path, str]) -> Registry:
    return module_registry(tmp_path, template_store, versions=2)


def until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


class Load:
    """A bounded concurrent load: each thread keeps one connection and records (status, version)."""

    def __init__(self, url: str, threads: int = 4) -> None:
        self.url = url
        self.stop = threading.Event()
        self.seen: list[list[tuple[int, str | None]]] = [[] for _ in range(threads)]
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def _run(self, i: int) -> None:
        body = split_body(rows(1))
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self.stop.is_set():
                try:
                    answer = client.post("/invocations", json=body)
                    self.seen[i].append((answer.status_code, answer.headers.get("X-Mlgate-Model-Version")))
                except httpx.HTTPError as exc:
                    self.seen[i].append((0, type(exc).__name__))

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(10)

    def latest(self) -> set[str | None]:
        return {s[-1][1] for s in self.seen if s}


def test_alias_switch_under_load_fails_no_request(reg: Registry) -> None:
    with running_gateway(reg, NAME, poll_seconds=0.2, record=False) as url, Load(url) as load:
        until(lambda: all(len(s) > 5 for s in load.seen))
        reg.set_alias(NAME, "production", "2")
        until(lambda: load.latest() == {"2"})
        time.sleep(0.2)
    every = [answer for thread in load.seen for answer in thread]
    assert {status for status, _ in every} == {200}, [a for a in every if a[0] != 200][:5]
    for thread in load.seen:  # each client saw v1, then v2, and never v1 again
        versions = [v for _, v in thread]
        switch = versions.index("2")
        assert set(versions[:switch]) == {"1"} and set(versions[switch:]) == {"2"}


def test_a_version_that_fails_to_load_leaves_the_old_one_serving(reg: Registry, tmp_path: Path) -> None:
    local = load_package(reg, NAME, "1", tmp_path / "good").path
    broken = tmp_path / "broken-model"
    shutil.copytree(local, broken)
    (broken / "model.pkl").write_bytes(b"this is not a pickle")
    mv = reg.client.create_model_version(NAME, source=str(broken), tags={keys.STATUS: "candidate"})
    with running_gateway(reg, NAME, poll_seconds=0.2, record=False) as url:
        reg.set_alias(NAME, "production", str(mv.version))
        until(lambda: str(mv.version) in httpx.get(url + "/health").json()["failed_versions"])
        answer = httpx.post(url + "/invocations", json=split_body(rows(2)))
        assert answer.status_code == 200 and answer.headers["X-Mlgate-Model-Version"] == "1"
        health = httpx.get(url + "/health").json()
        assert health["status"] == "degraded"
        assert 'mlgate_reloads_total{model="iris",result="failed"} 1.0' in httpx.get(url + "/metrics").text
    [event] = [e for e in reg.events(NAME) if e.action == "serving-load-failed"]
    assert event.to_version == str(mv.version) and event.from_version == "1" and event.result == "failed"
    assert event.details["alert"] is True


def test_admin_reload_switches_now(reg: Registry) -> None:
    with running_gateway(reg, NAME, poll_seconds=600, admin_token="t", record=False) as url:
        reg.set_alias(NAME, "production", "2")
        assert httpx.get(url + "/version").json()["production"] == "1"
        answer = httpx.post(url + "/admin/reload", headers={"X-Mlgate-Admin-Token": "t"})
        assert answer.json()["serving"] == {"production": "2"}
        assert httpx.post(url + "/invocations", json=split_body(rows(1))).headers["X-Mlgate-Model-Version"] == "2"


def test_canary_gets_its_weight_of_traffic_sticky_per_request_key(reg: Registry) -> None:
    reg.set_alias(NAME, "canary", "2")
    reg.set_model_tag(NAME, keys.CANARY_WEIGHT, "20")
    with running_gateway(reg, NAME, poll_seconds=0.2) as url:
        assert httpx.get(url + "/version").json()["canary"] == "2"
        assert 'mlgate_canary_weight{model="iris",version="2"} 20.0' in httpx.get(url + "/metrics").text
        body = split_body(rows(1))
        answers = drive(url, 2000, key_prefix="user-")
        assert {status for status, _, _ in answers} == {200}
        assert all(route == ("canary" if version == "2" else "production") for _, version, route in answers)
        share = sum(version == "2" for _, version, _ in answers) / len(answers)
        assert 0.17 <= share <= 0.23, share
        with httpx.Client(base_url=url) as client:
            sticky = {client.post("/invocations", json=body, headers={"X-Mlgate-Request-Key": "user-7"}).headers[
                "X-Mlgate-Model-Version"] for _ in range(20)}  # fmt: skip
            assert len(sticky) == 1
            forced = client.post("/invocations", json=body, headers={"X-Mlgate-Route": "canary"})
            assert forced.headers["X-Mlgate-Model-Version"] == "2"
        reg.delete_alias(NAME, "canary")  # the rollout is aborted: all traffic back to production
        until(lambda: httpx.get(url + "/version").json()["canary"] is None)
        assert "mlgate_canary_weight{" not in httpx.get(url + "/metrics").text  # no canary: no weight series
        assert httpx.post(url + "/invocations", json=body, headers={"X-Mlgate-Route": "canary"}).headers[
            "X-Mlgate-Model-Version"] == "1"  # fmt: skip
        assert url.gateway.recorder is not None
        url.gateway.recorder.flush()
    from mlgate.serving.record import PredictionStore, default_store_url

    recorded = PredictionStore(default_store_url(reg.settings)).window(NAME, route="canary")
    assert set(recorded["version"]) == {"2"}
    assert len(recorded) >= sum(version == "2" for _, version, _ in answers)


def test_router_split_is_stable_and_close_to_the_weight() -> None:
    keys_ = [f"k{i}" for i in range(20_000)]
    share = sum(choose(5.0, k) == "canary" for k in keys_) / len(keys_)
    assert 0.04 <= share <= 0.06
    assert all(choose(5.0, k) == choose(5.0, k) for k in keys_[:100])
    assert all(choose(25.0, k) == "canary" for k in keys_ if bucket(k) < 5.0)  # growing the weight keeps users


def test_pinned_version_ignores_alias_moves(reg: Registry) -> None:
    with running_gateway(reg, NAME, version="2", poll_seconds=0.1, record=False) as url:
        reg.set_alias(NAME, "production", "2")
        reg.set_alias(NAME, "production", "1")
        time.sleep(0.4)
        assert httpx.post(url + "/invocations", json=split_body(rows(1))).headers["X-Mlgate-Model-Version"] == "2"


def test_no_production_alias_refuses_to_start(tmp_path: Path, template_store: tuple[Path, str]) -> None:
    from mlgate.exceptions import ServingError

    registry = module_registry(tmp_path, template_store, versions=1)
    registry.delete_alias(NAME, "production")
    with pytest.raises(ServingError, match="no 'production' alias"), running_gateway(registry, NAME):
        pass


def test_the_versions_data_contract_is_enforced_at_the_gateway(reg: Registry, model_uri: str, tmp_path: Path) -> None:
    from mlgate.testing import write_card

    version = api.register(NAME, model_uri, write_card(tmp_path / "c.yaml"), contract=CONTRACT, registry=reg).version
    with running_gateway(reg, NAME, version=version, record=False) as url:
        health = httpx.get(url + "/health").json()
        assert health["serving"]["production"]["contract"] == "iris-features@1.0.0"
        frame = rows(2).astype(object)
        frame.loc[0, "sepal_length"] = None  # the contract imputes 5.8
        answer = httpx.post(url + "/invocations", json=split_body(frame))
        assert answer.status_code == 200, answer.text
        frame = rows(2)
        frame.loc[1, "petal_length"] = 42.0  # out of the contract's range: the row is rejected
        answer = httpx.post(url + "/invocations", json=split_body(frame))
        assert answer.status_code == 422
        body = answer.json()
        assert "iris-features@1.0.0" in body["message"]
        assert body["problems"][0]["column"] == "petal_length"
        assert "outside" in body["problems"][0]["problem"]


# --- the warm standby: the last known good version held in memory ------------------------------------
def _loads(url: str) -> float:
    """How many versions the gateway has loaded so far (its reloads counter)."""
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith("mlgate_reloads_total") and 'result="loaded"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_the_last_known_good_is_held_as_a_standby_and_a_rollback_to_it_loads_nothing(reg: Registry) -> None:
    reg.set_alias(NAME, "production", "2")
    reg.set_alias(NAME, "last-known-good", "1")
    with running_gateway(reg, NAME, poll_seconds=0.2, record=False) as url:
        holder = url.gateway.holder
        until(lambda: holder.standby is not None)
        standby = holder.standby
        assert standby is not None and standby.version == "1" and Path(standby.folder).is_dir()
        assert httpx.get(url + "/version").json()["production"] == "2"  # the standby serves no traffic
        assert httpx.post(url + "/invocations", json=split_body(rows(1))).headers["X-Mlgate-Model-Version"] == "2"
        loads, old = _loads(url), holder.state.production
        reg.set_alias(NAME, "production", "1")  # the rollback
        until(lambda: httpx.get(url + "/version").json()["production"] == "1")
        assert holder.state.production is standby and _loads(url) == loads  # a pointer swap, no load
        assert httpx.post(url + "/invocations", json=split_body(rows(1))).headers["X-Mlgate-Model-Version"] == "1"
        until(lambda: holder.standby is None)  # the last-known-good alias names production: nothing to stand by
        until(lambda: not Path(old.folder).exists())  # v2 is no longer held: its folder is gone
        reg.set_alias(NAME, "last-known-good", "2")
        until(lambda: holder.standby is not None and holder.standby.version == "2")
        assert _loads(url) == loads + 1


def test_a_promotion_keeps_the_replaced_production_as_standby_once_it_is_last_known_good(reg: Registry) -> None:
    with running_gateway(reg, NAME, poll_seconds=30, admin_token="t", record=False) as url:
        holder = url.gateway.holder
        first = holder.state.production
        reg.set_alias(NAME, "production", "2")
        reg.set_alias(NAME, "last-known-good", "1")  # both moved before the gateway looked
        httpx.post(url + "/admin/reload", headers={"X-Mlgate-Admin-Token": "t"})
        assert holder.state.production.version == "2" and holder.standby is first  # kept, not reloaded


def test_a_reload_gets_the_standby_loaded_at_once_not_at_the_next_poll(reg: Registry) -> None:
    with running_gateway(reg, NAME, poll_seconds=30, admin_token="t", record=False) as url:
        holder = url.gateway.holder
        reload = {"X-Mlgate-Admin-Token": "t"}
        reg.set_alias(NAME, "production", "2")
        httpx.post(url + "/admin/reload", headers=reload)
        assert holder.standby is None and holder.state.production.version == "2"  # v1 was let go
        reg.set_alias(NAME, "last-known-good", "1")
        httpx.post(url + "/admin/reload", headers=reload)
        until(lambda: holder.standby is not None, timeout=15)  # the poll is 30 s away
        assert holder.standby is not None and holder.standby.version == "1"


def test_the_standby_can_be_turned_off_for_models_too_big_to_hold_twice(reg: Registry) -> None:
    reg.set_alias(NAME, "production", "2")
    reg.set_alias(NAME, "last-known-good", "1")
    lean = Registry(reg.client, reg.settings.with_overrides(serving_standby=False))
    with running_gateway(lean, NAME, poll_seconds=0.1, record=False) as url:
        time.sleep(0.5)
        assert url.gateway.holder.standby is None and _loads(url) == 0
        reg.set_alias(NAME, "production", "1")
        until(lambda: httpx.get(url + "/version").json()["production"] == "1")
        assert _loads(url) == 1  # loaded on demand, as without a standby


def test_serving_standby_is_a_setting(tmp_path: Path) -> None:
    from mlgate.config import load_settings
    from mlgate.exceptions import ConfigError

    env = {"MLGATE_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    assert load_settings(env, tmp_path).serving_standby is True
    assert load_settings({**env, "MLGATE_SERVING_STANDBY": "false"}, tmp_path).serving_standby is False
    config = tmp_path / "mlflow_config"
    config.mkdir()
    (config / "mlgate.yaml").write_text("serving_standby: false\n")
    assert load_settings(env, tmp_path).serving_standby is False
    assert load_settings({**env, "MLGATE_SERVING_STANDBY": "on"}, tmp_path).serving_standby is True
    with pytest.raises(ConfigError, match="serving_standby must be true or false"):
        load_settings({**env, "MLGATE_SERVING_STANDBY": "maybe"}, tmp_path)
