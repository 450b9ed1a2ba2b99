"""Is the model right in production: realized metrics from labels that came back, CBPE estimates before they do.

Signals (the names of the metric vocabulary, mlgate.stats.metrics):
    quality.realized.<metric>          on the window's rows that have a label
    quality.realized.label_coverage    labelled rows / answered rows (and quality.realized.labels, a count)
    quality.estimated.<metric>         accuracy, f1, roc_auc of a classifier from its probabilities (CBPE)

Probabilities are those the served version gives for the recorded inputs (its ``predict_proba``),
calibrated on the version's evaluation set. Labels whose type cannot be compared with the
predictions (text for a numeric model) are counted as ``unparseable``, never dropped silently.
"""

from __future__ import annotations

import math
import numbers
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlgate.exceptions import MlgateError
from mlgate.gate.context import GateContext
from mlgate.monitor.feedback import load_sql, store_url
from mlgate.serving.labels import LabelStore
from mlgate.stats import cbpe
from mlgate.stats.metrics import CLASSIFICATION, measure, metrics_for

if TYPE_CHECKING:
    import pandas as pd

    from mlgate.registry import Registry


@dataclass
class GroundTruth:
    """Realized and estimated performance of one window."""

    task: str
    rows: int
    labelled: int = 0
    unparseable: int = 0
    realized: dict[str, float] = field(default_factory=dict)
    estimated: dict[str, cbpe.Estimate] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def coverage(self) -> float | None:
        return self.labelled / self.rows if self.rows else None

    def signals(self) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        if self.rows:
            out["quality.realized.labels"] = float(self.labelled)
            out["quality.realized.label_coverage"] = self.coverage
        out.update({f"quality.realized.{k}": v for k, v in self.realized.items()})
        out.update({f"quality.estimated.{k}": e.value for k, e in self.estimated.items() if math.isfinite(e.value)})
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "rows": self.rows,
            "labelled": self.labelled,
            "label_coverage": self.coverage,
            "unparseable_labels": self.unparseable,
            "realized": self.realized,
            "estimated": {k: e.to_dict() for k, e in self.estimated.items()},
            "notes": self.notes,
        }


def ground_truth(registry: Registry, name: str, version: str, frame: pd.DataFrame) -> GroundTruth | None:
    """Realized (where ``frame`` has a ``label`` column) and estimated performance; None without an evaluation set."""
    with tempfile.TemporaryDirectory(prefix="mlgate-truth-") as tmp:
        ctx = GateContext(registry, name, version, "monitor", Path(tmp))
        try:
            evaluation = ctx.evaluation()
        except MlgateError:
            return None
        answered = frame[frame["status"] < 400] if "status" in frame.columns else frame
        truth = GroundTruth(evaluation.task, len(answered))
        proba, classes = _probabilities(ctx, evaluation, answered, truth.notes)
        if "label" in answered.columns:
            _realize(truth, answered, proba, classes)
        scored = None if proba is None else proba[~np.isnan(proba).any(axis=1)]
        if scored is not None and len(scored):
            try:
                reference = ctx.probabilities()
                calibration = cbpe.calibrate(reference, evaluation.target.to_numpy(), classes)
                truth.estimated = cbpe.estimate(calibration, scored)
            except ValueError as exc:
                truth.notes.append(f"performance not estimated: {exc}")
        return truth


def _probabilities(ctx: GateContext, evaluation: Any, frame: pd.DataFrame, notes: list[str]) -> tuple[Any, Any]:
    """The served version's class probabilities for the recorded inputs, and its classes (None when it has none)."""
    if evaluation.task != CLASSIFICATION or frame.empty:
        return None, None
    try:
        model = ctx.package().model.get_raw_model()
        predict_proba = getattr(model, "predict_proba", None)
        if predict_proba is None:
            notes.append("the model gives no class probabilities (no predict_proba): performance is not estimated")
            return None, None
        columns = list(evaluation.features.columns)
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            notes.append(f"the record lacks input columns {missing[:5]}: performance is not estimated")
            return None, None
        recorded = frame[columns].notna().any(axis=1).to_numpy()  # a shadow's answer records no inputs
        inputs = frame.loc[recorded, columns].astype(evaluation.features.dtypes.to_dict(), errors="ignore")
        if not recorded.all():
            notes.append(
                f"{int((~recorded).sum())} of {len(frame)} answered rows have no recorded inputs (a shadow's "
                "answers): left out of the scores behind realized roc_auc and the estimates"
            )
        proba = None
        if recorded.any():
            scores = np.asarray(predict_proba(inputs), dtype=float)
            proba = np.full((len(frame), scores.shape[1]), np.nan)
            proba[recorded] = scores
        return proba, getattr(model, "classes_", None)
    except MlgateError as exc:
        notes.append(f"performance not estimated: {exc.message}")
    except Exception as exc:  # noqa: BLE001 - the estimate is optional evidence; the pass goes on
        notes.append(f"performance not estimated: {type(exc).__name__}: {str(exc)[:200]}")
    return None, None


def _realize(truth: GroundTruth, frame: pd.DataFrame, proba: Any, classes: Any) -> None:
    """Realized metrics on labelled rows; labels that cannot be compared with the predictions are counted."""
    labelled = frame["label"].notna().to_numpy()
    predictions, labels = frame["prediction"].to_numpy()[labelled], frame["label"].to_numpy()[labelled]
    numeric = all(_number(p) is not None for p in predictions)
    if numeric:
        y_true = np.array([_number(v) for v in labels], dtype=object)
        usable = np.array([v is not None for v in y_true], dtype=bool)
        y_pred = np.array([_number(p) for p in predictions], dtype=float)[usable]
        y_true = y_true[usable].astype(float)
    else:
        usable = np.ones(len(labels), dtype=bool)
        y_true, y_pred = np.array([str(v) for v in labels]), np.array([str(p) for p in predictions])
    truth.unparseable = int((~usable).sum())
    truth.labelled = int(usable.sum())
    if not truth.labelled:
        return
    scores = None
    if proba is not None and classes is not None:
        scores = proba[labelled][usable]
        if numeric:
            y_true = _as_classes(y_true, classes)
            y_pred = _as_classes(y_pred, classes)
    scored = np.ones(0, dtype=bool) if scores is None else ~np.isnan(scores).any(axis=1)
    complete = scores is None or bool(scored.all())
    measured = measure(truth.task, y_true, y_pred, scores if complete else None)
    values, unavailable = dict(measured.values), dict(measured.unavailable)
    if scores is not None and not complete:  # ranking metrics on the rows whose inputs were recorded
        ranked = [m.name for m in metrics_for(truth.task) if m.needs_proba]
        partial = measure(truth.task, y_true[scored], y_pred[scored], scores[scored], ranked)
        values.update(partial.values)
        unavailable = {k: v for k, v in unavailable.items() if k not in ranked} | partial.unavailable
        if partial.values:
            truth.notes.append(f"realized {', '.join(partial.values)} on the {int(scored.sum())} labelled rows "
                               f"with recorded inputs (of {len(scored)})")  # fmt: skip
    truth.realized = {k: float(v) for k, v in values.items() if math.isfinite(v)}
    if unavailable and truth.labelled:
        truth.notes += [f"realized {k}: {why}" for k, why in list(unavailable.items())[:3]]


def _number(value: Any) -> float | None:
    if isinstance(value, bool | np.bool_):
        return float(value)
    if isinstance(value, numbers.Real):  # numpy's too: a column of labels only is int64, not Python ints
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _as_classes(values: np.ndarray, classes: Any) -> np.ndarray:
    """Numbers mapped onto the model's class labels where they are equal (1.0 -> 1), so metrics see one type."""
    lookup = {float(c): c for c in np.asarray(classes).tolist() if _number(c) is not None}
    return np.array([lookup.get(v, v) for v in values])


def window_truth(
    registry: Registry, name: str, version: str, frame: pd.DataFrame, config: dict[str, Any], recorded: bool
) -> GroundTruth | None:
    """Ground truth of a pass: a gateway window (``recorded``) joined to its labels, else a batch (estimates only)."""
    notes = []
    if recorded:
        try:
            receipt = load_sql(registry.settings, config)
        except MlgateError as exc:
            receipt, notes = None, [f"labels not loaded: {exc.message}"]
        if receipt is not None and (receipt.problems or receipt.unknown_request_ids):
            notes.append(
                f"labels query: {len(receipt.problems)} rows rejected, "
                f"{receipt.unknown_request_ids} for request ids the record does not hold"
            )
        if "request_id" in frame.columns:
            store = LabelStore(store_url(registry.settings, config))
            try:
                frame = store.joined(frame)
            finally:
                store.close()
    truth = ground_truth(registry, name, version, frame)
    if truth is not None:
        truth.notes[:0] = notes
    return truth
