"""End to end: a gateway under a bounded load on loopback, a bad canary aborted automatically, then a bad
production release rolled back with one command; no request on the production path fails."""

from __future__ import annotations

import shutil
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import requests
import yaml

from mlgate import api
from mlgate.config import Settings
from mlgate.exceptions import TransitionRefused
from mlgate.registry import Registry
from mlgate.release.rollout import driver, steps
from mlgate.serving import running_gateway
from mlgate.serving.app import ROUTE_HEADER, VERSION_HEADER
from mlgate.serving.record import PredictionStore
from mlgate.testing import log_tiny_model, throwaway_settings, tiny_training_data, write_card
from tests.rollout_support import pass_gate

NAME = "iris"


def log_constant_model(settings: Settings) -> str:
    """A model that answers class 2 whatever it is asked: it never errors, it shifts every prediction."""
    from sklearn.dummy import DummyClassifier

    x, y = tiny_training_data()
    return log_tiny_model(settings, model=DummyClassifier(strategy="constant", constant=2).fit(x, y))


class Load:
    """A bounded load: a few threads posting one iris row at a time; every answer is counted by route."""

    def __init__(self, url: str, threads: int = 3) -> None:
        self.url = url + "/invocations"
        self.stop = threading.Event()
        self.answers: list[tuple[str, int, str]] = []  # (route, status, version)
        self.errors: list[str] = []
        x, _ = tiny_training_data()
        self.bodies = [
            {"dataframe_split": {"columns": list(x.columns), "data": [row]}} for row in x.to_numpy().tolist()
        ]
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def _run(self, offset: int) -> None:
        session = requests.Session()
        i = offset
        while not self.stop.is_set():
            try:
                answer = session.post(self.url, json=self.bodies[i % len(self.bodies)], timeout=10)
                self.answers.append(
                    (answer.headers.get(ROUTE_HEADER, "?"), answer.status_code, answer.headers.get(VERSION_HEADER, "?"))
                )
            except requests.RequestException as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
            i += 7
            time.sleep(0.005)

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=15)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, template_store: tuple[Path, str]) -> tuple[Path, str, str]:
    """A private registry store with the good iris model and a logged constant (bad) model."""
    source, good_uri = template_store
    folder = tmp_path_factory.mktemp("scenario")
    (folder / "store").mkdir()
    shutil.copy(source / "mlflow.db", folder / "store" / "mlflow.db")
    settings = throwaway_settings(folder / "store", artifact_root=str(folder / "store" / "artifacts"))
    Registry.from_settings(settings)
    return folder, good_uri, log_constant_model(settings)


def test_bad_canary_aborted_and_bad_release_rolled_back_under_load(store: tuple[Path, str, str]) -> None:
    folder, good_uri, bad_uri = store
    config = folder / "mlflow_config"
    config.mkdir()
    (config / "rollout.yaml").write_text(
        yaml.safe_dump({"steps": [25, 50, 100], "bake": "3s", "min_requests": 20, "max_extensions": 5})
    )
    predictions = f"sqlite:///{folder / 'predictions.db'}"
    base = throwaway_settings(
        folder / "store", artifact_root=str(folder / "store" / "artifacts"), config_dir=config,
        prediction_store_url=predictions, poll_interval_seconds=0.2, endpoint_wait_seconds=20.0,
    )  # fmt: skip
    registry = Registry.from_settings(base)
    card = write_card(folder / "card.yaml")
    v1 = api.register(NAME, good_uri, card, registry=registry).version
    pass_gate(registry, NAME, v1, "production")
    api.promote(NAME, v1, "production", registry=registry)

    with running_gateway(registry, NAME, poll_seconds=0.2, store_url=predictions) as url, Load(url) as load:
        ops = Registry.from_settings(base.with_overrides(endpoint=str(url)))  # smoke tests go through the gateway
        time.sleep(1)

        # 1. a canary whose predictions are all shifted: `rollout run` aborts it on its own
        v2 = api.register(NAME, bad_uri, card, registry=ops).version
        pass_gate(ops, NAME, v2, "canary")
        steps.start(ops, NAME, v2)
        result = driver.run(ops, NAME, PredictionStore(predictions), poll_seconds=0.2, max_seconds=90)
        assert result.state is not None and result.state.status == "aborted", result
        assert "prediction PSI" in (result.state.outcome or "")
        assert "canary" not in ops.aliases(NAME)

        # 2. the same bad model pushed straight to production (the policy wants a canary for another model
        #    family: it takes --force), then one command back
        v3 = api.register(NAME, bad_uri, card, registry=ops).version
        pass_gate(ops, NAME, v3, "production")
        with pytest.raises(TransitionRefused, match="another model family"):
            api.promote(NAME, v3, "production", registry=ops)
        api.promote(NAME, v3, "production", force=True, reason="hotfix, canary skipped", registry=ops)
        rolled = api.rollback(NAME, reason="predictions all class 2", registry=ops)
        assert rolled.plan.to_version == v1 and rolled.smoke is not None and rolled.smoke.passed
        assert str(url) in rolled.smoke.target  # proven on the gateway, not in-process
        deadline = time.monotonic() + 10
        while load.answers[-1][2] != v1 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)

    production = [(status, version) for route, status, version in load.answers if route == "production"]
    failed = [a for a in production if a[0] != 200]
    assert not load.errors and not failed, (load.errors[:3], failed[:3])
    served = Counter(version for _, version in production)
    assert served[v1] > 50 and served[v3] > 0, served
    assert any(route == "canary" and version == v2 for route, _, version in load.answers)
    story = [e.action for e in reversed(ops.events(NAME)) if e.action != "register"]
    assert story[:1] == ["promote-production"] and story[-1] == "rollback"
    assert {"rollout-start", "rollout-analysis", "rollout-abort"} <= set(story)
