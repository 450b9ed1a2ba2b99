"""Micro-batching: concurrent requests share one predict call, and each still gets its own rows or error."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from mlgate.registry import Registry
from mlgate.registry.package import load_package
from mlgate.serving import running_gateway
from mlgate.serving.batching import MicroBatcher, row_wise
from mlgate.testing import tiny_training_data
from tests.serving_helpers import NAME, module_registry, split_body


class Doubler:
    """A row-wise predict function that remembers the size of every call it gets."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, frame: pd.DataFrame) -> Any:
        self.calls.append(len(frame))
        if (frame["x"] < 0).any():
            raise ValueError("negative x")
        return frame["x"].to_numpy() * 2


def frame_of(*xs: float) -> pd.DataFrame:
    return pd.DataFrame({"x": np.array(xs, dtype=np.float64)})


async def _together(batcher: MicroBatcher, predict: Any, frames: list[pd.DataFrame]) -> list[Any]:
    return await asyncio.gather(*(batcher.predict("m", predict, f) for f in frames), return_exceptions=True)


def test_requests_of_one_loop_turn_share_one_call_and_get_their_own_rows() -> None:
    batcher, predict = MicroBatcher(), Doubler()
    answers = asyncio.run(_together(batcher, predict, [frame_of(1), frame_of(2, 3), frame_of(4)]))
    assert predict.calls == [4]
    assert [a.tolist() for a in answers] == [[2.0], [4.0, 6.0], [8.0]]
    assert batcher.batches == 1 and batcher.batched_requests == 3


def test_a_failing_batch_is_predicted_again_request_by_request() -> None:
    batcher, predict = MicroBatcher(), Doubler()
    answers = asyncio.run(_together(batcher, predict, [frame_of(1), frame_of(-1), frame_of(5)]))
    assert predict.calls == [3, 1, 1, 1]
    assert answers[0].tolist() == [2.0] and answers[2].tolist() == [10.0]
    assert isinstance(answers[1], ValueError)  # only the bad request fails


def test_an_answer_that_is_not_one_per_row_is_not_split() -> None:
    batcher = MicroBatcher()
    calls: list[int] = []

    def total(frame: pd.DataFrame) -> Any:
        calls.append(len(frame))
        return [float(frame["x"].sum())]

    answers = asyncio.run(_together(batcher, total, [frame_of(1, 2), frame_of(3, 4)]))
    assert answers == [[3.0], [7.0]]  # each request's own sum, not a slice of the batch's
    assert calls == [4, 2, 2] and batcher.batches == 0


def test_batches_stop_at_max_rows() -> None:
    batcher, predict = MicroBatcher(max_rows=3), Doubler()
    asyncio.run(_together(batcher, predict, [frame_of(1, 2), frame_of(3, 4), frame_of(5), frame_of(*range(9))]))
    assert sorted(predict.calls) == [2, 3, 9]  # 9 rows alone; then 2 | 2+1


@pytest.fixture(scope="module")
def reg(tmp_path_factory: pytest.TempPathFactory, template_store: tuple[Path, str]) -> Registry:
    return module_registry(tmp_path_factory.mktemp("batching"), template_store, versions=1)


def test_concurrent_requests_are_batched_and_answered_like_the_registry_model(reg: Registry, tmp_path: Path) -> None:
    x, _ = tiny_training_data()
    sample = x.head(40).reset_index(drop=True)
    model = load_package(reg, NAME, "1", tmp_path).model
    assert row_wise(model)
    expected = [int(v) for v in model.predict(sample)]
    bodies = [json.dumps(split_body(sample.iloc[[i]])) for i in range(len(sample))]
    with running_gateway(reg, NAME, poll_seconds=5, record=False) as url:

        def send(i: int) -> int:
            with httpx.Client(base_url=url, timeout=10) as client:
                got = []
                for _ in range(10):
                    answer = client.post(
                        "/invocations", content=bodies[i], headers={"Content-Type": "application/json"}
                    )
                    assert answer.status_code == 200, answer.text
                    got.append(answer.json()["predictions"])
                assert all(g == got[0] for g in got)
                return int(got[0][0])

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(send, range(len(sample))))
        health = httpx.get(url + "/health").json()
    assert answers == expected  # every request got its own row's prediction back
    assert health["batching"]["batches"] > 0
    assert health["batching"]["batched_requests"] >= 2 * health["batching"]["batches"]


def test_batching_can_be_turned_off(reg: Registry) -> None:
    with running_gateway(reg, NAME, poll_seconds=5, record=False, batching=False) as url:
        assert httpx.get(url + "/health").json()["batching"] is None
