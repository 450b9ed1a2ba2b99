"""A canary and watch criterion on labels that came back: the realized metric of each side, with a min_labels guard.

    rollout.yaml
      analysis:
        realized: {metric: accuracy, max_drop: 0.02, min_labels: 100}

Each side's recorded answers are joined to their labels (mlgate.serving.labels) by request id.
With fewer than ``min_labels`` labelled answers on either side the criterion is not judged (it
shows how many labels each side has): labels often arrive after a canary step, and a judgment on a
handful of them would be noise. The metric comes from the one vocabulary (mlgate.stats.metrics).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlgate.exceptions import PolicyError
from mlgate.release.rollout.analysis import Criterion
from mlgate.serving.labels import LabelStore
from mlgate.stats.metrics import compute, known_names, lookup

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class RealizedSpec:
    """The realized-metric criterion of rollout.yaml's ``analysis.realized``."""

    metric: str
    max_drop: float = 0.02
    min_labels: int = 50


def parse_realized(raw: Any, where: str) -> RealizedSpec | None:
    """``analysis.realized`` checked: a known metric, a non-negative drop, a positive min_labels."""
    if not raw:
        return None
    if not isinstance(raw, dict):
        raise PolicyError(f"{where}: must be a mapping with metric, max_drop, min_labels", "see docs/guides/rollout.md")
    unknown = set(raw) - {"metric", "max_drop", "min_labels"}
    if unknown:
        raise PolicyError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}", "use metric, max_drop, min_labels")
    metric = lookup(str(raw.get("metric", "")))
    if metric is None:
        raise PolicyError(f"{where}.metric: {raw.get('metric')!r} is not a metric", f"use one of {known_names()}")
    try:
        spec = RealizedSpec(metric.name, float(raw.get("max_drop", 0.02)), int(raw.get("min_labels", 50)))
    except (TypeError, ValueError):
        raise PolicyError(f"{where}: max_drop must be a number and min_labels an integer", "fix the values") from None
    if spec.max_drop < 0 or spec.min_labels < 1:
        raise PolicyError(f"{where}: max_drop must be >= 0 and min_labels >= 1", "fix the values")
    return spec


def with_labels(source: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (recorded answers) with a ``label`` column, from the labels beside ``source``'s record."""
    engine = getattr(source, "engine", None)
    if engine is None or frame.empty or "request_id" not in frame.columns:
        return frame
    store = LabelStore(engine.url.render_as_string(hide_password=False))
    try:
        return store.joined(frame)
    finally:
        store.close()


def criterion(spec: RealizedSpec, baseline: pd.DataFrame, candidate: pd.DataFrame, names: tuple[str, str]) -> Criterion:
    """How much worse the candidate's realized metric is than the baseline's (None below min_labels)."""
    metric = lookup(spec.metric)
    assert metric is not None  # parse_realized checked it
    counts, values = [], []
    for side in (baseline, candidate):
        labelled = _labelled(side)
        counts.append(len(labelled))
        value = None
        if len(labelled) >= spec.min_labels:
            y_true, y_pred = _comparable(labelled["label"].tolist(), labelled["prediction"].tolist())
            value = compute(metric.task, y_true, y_pred, names=[metric.name]).get(metric.name)
        values.append(value if value is not None and math.isfinite(value) else None)
    (base, new), (n_base, n_new) = values, counts
    label = f"realized {metric.name}"
    if base is None or new is None:
        detail = f"not judged: {names[1]} {n_new} and {names[0]} {n_base} labelled answers (need {spec.min_labels})"
        return Criterion(label, None, spec.max_drop, None, detail)
    drop = metric.loss(new, base)
    detail = (
        f"{names[1]} {new:.4f} on {n_new} labels vs {names[0]} {base:.4f} on {n_base}, "
        f"drop {drop:+.4f} allowed {spec.max_drop:g}"
    )
    return Criterion(label, drop, spec.max_drop, bool(drop <= spec.max_drop), detail)


def _labelled(frame: pd.DataFrame) -> pd.DataFrame:
    if "label" not in frame.columns or frame.empty:
        return frame.iloc[0:0]
    ok = frame["status"] < 400 if "status" in frame.columns else True
    return frame[frame["label"].notna() & frame["prediction"].notna() & ok]


def _comparable(labels: list[Any], predictions: list[Any]) -> tuple[list[Any], list[Any]]:
    """Labels and predictions as one type: numbers when both are numbers, else text."""
    try:
        return [float(v) for v in labels], [float(p) for p in predictions]
    except (TypeError, ValueError):
        return [str(v) for v in labels], [str(p) for p in predictions]
