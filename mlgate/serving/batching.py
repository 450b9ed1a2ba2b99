"""Micro-batching: requests validated in the same event-loop turn share one predict call per model.

A 1-row predict of a scikit-learn model costs about as much as an 8-row one (input checks, not
arithmetic), so under concurrent load the gateway predicts every request that is ready at once
and hands each its own rows back. No timer is involved: a batch is whatever arrived together, so
a lone request waits one loop turn (microseconds) and never for company.

Only flavors whose predictions are row-independent are batched (``ROW_WISE_FLAVORS``), and never
a request with ``params``. A batch whose answer is not one prediction per row, or that raises, is
predicted again request by request, so each request gets its own answer or its own error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

# pyfunc loader modules whose models score each row on its own (fitted state only)
ROW_WISE_FLAVORS = frozenset({"mlflow.sklearn", "mlflow.xgboost", "mlflow.lightgbm", "mlflow.catboost"})


def row_wise(pyfunc_model: Any) -> bool:
    """True when the model's flavor predicts each row independently of the others in its call."""
    flavor = (getattr(pyfunc_model, "metadata", None) and pyfunc_model.metadata.flavors.get("python_function")) or {}
    return flavor.get("loader_module") in ROW_WISE_FLAVORS


Predict = Callable[[Any], Any]  # rows (a DataFrame, or a float64 array for the array path) -> predictions


class MicroBatcher:
    """Coalesces the predictions requested in one event-loop turn into one call per model.

    Call ``predict`` from the event loop thread only (the gateway's request handlers).
    """

    def __init__(self, max_rows: int = 512) -> None:
        self.max_rows = max_rows
        self.batches = 0  # predict calls that served more than one request
        self.batched_requests = 0
        self._pending: dict[Any, list[tuple[Any, asyncio.Future[Any]]]] = {}
        self._predictors: dict[Any, Predict] = {}
        self._scheduled = False

    async def predict(self, key: Any, predict: Predict, frame: Any) -> Any:
        """The predictions of ``frame`` (a DataFrame or a 2-D array); requests with the same ``key`` in the same
        turn share one call (one key per kind of rows: frames and arrays never mix)."""
        if len(frame) > self.max_rows:
            return predict(frame)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.setdefault(key, []).append((frame, future))
        self._predictors[key] = predict
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        pending, predictors = self._pending, self._predictors
        self._pending, self._predictors = {}, {}
        for key, items in pending.items():
            predict = predictors[key]
            for group in _groups(items, self.max_rows):
                self._run(predict, group)

    def _run(self, predict: Predict, items: list[tuple[Any, asyncio.Future[Any]]]) -> None:
        if len(items) > 1:
            sizes = [len(frame) for frame, _ in items]
            try:
                answers = _split(predict(_stack([frame for frame, _ in items])), sizes)
            except Exception:  # noqa: BLE001 - retried per request below, where each gets its own error
                answers = None
            if answers is not None:
                self.batches += 1
                self.batched_requests += len(items)
                for (_, future), answer in zip(items, answers, strict=True):
                    if not future.done():
                        future.set_result(answer)
                return
        for frame, future in items:
            try:
                answer = predict(frame)
            except Exception as exc:  # noqa: BLE001 - the request's own error, raised in its handler
                if not future.done():
                    future.set_exception(exc)
            else:
                if not future.done():
                    future.set_result(answer)


def _groups(items: list[Any], max_rows: int) -> list[list[Any]]:
    groups: list[list[Any]] = [[]]
    rows = 0
    for item in items:
        if groups[-1] and rows + len(item[0]) > max_rows:
            groups.append([])
            rows = 0
        groups[-1].append(item)
        rows += len(item[0])
    return groups


def _stack(frames: list[Any]) -> Any:
    """One frame of all rows; frames of one float64 block are stacked in numpy (pandas concat costs more).

    Arrays (the gateway's validated float64 rows, ``Validator.array``) stack into one array."""
    first = frames[0]
    if isinstance(first, np.ndarray):
        return np.vstack(frames)
    columns = first.columns
    blocks = []
    for frame in frames:
        if not frame.columns.equals(columns):
            return pd.concat(frames, ignore_index=True)
        values = frame.to_numpy()
        if values.dtype != np.float64:
            return pd.concat(frames, ignore_index=True)
        blocks.append(values)
    return pd.DataFrame(np.vstack(blocks), columns=columns)


def _split(predictions: Any, sizes: list[int]) -> list[Any] | None:
    """Each request's slice of a batch's predictions; None when they are not one per row."""
    total = sum(sizes)
    try:
        if len(predictions) != total:
            return None
    except TypeError:
        return None
    take = predictions.iloc if isinstance(predictions, (pd.DataFrame, pd.Series)) else predictions
    out, at = [], 0
    for size in sizes:
        out.append(take[at : at + size])
        at += size
    return out
