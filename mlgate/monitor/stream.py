"""Profile a batch in bounded memory: read Parquet / CSV in chunks, sketch each chunk, merge; then drift and quality.

    profiled = stream_batch("scored.parquet", profile, contract, progress=print_progress)
    drift_result, quality = judge(profiled, profile, contract, tests=("ks", "chi2"))

Parquet is read with pyarrow's ``iter_batches`` (only the profiled columns, string columns as
dictionaries, so no Python string is made per row); CSV with pandas in chunks. Each chunk is
reduced to column sketches (mlgate.stats.sketch) that add up exactly, so memory stays flat
whatever the batch's size, and the verdicts equal those of an in-memory pass
(``profile_frame`` on the whole frame) — they are computed by the same code from the same counts.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlgate.exceptions import UsageError
from mlgate.monitor.drift import PSI_THRESHOLD, DriftResult, sketches_drift
from mlgate.monitor.quality import QualityResult, sketches_quality
from mlgate.stats.drift import category_key
from mlgate.stats.sketch import CategoricalSketch, ColumnPlan, Sketch, merge, plan_column, sketch_series, sketch_values

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

Progress = Callable[[int, int], None]  # (rows done, rows in all) for Parquet; bytes for CSV
Scorer = Callable[["pd.DataFrame"], "pd.DataFrame"]  # a chunk of features -> its predictions
GATEWAY_COLUMNS = frozenset({"ts", "model", "version", "route", "request_key", "request_id", "status", "latency_ms"})
CHUNK_ROWS = 1_000_000
WORKERS = 2  # threads sketching the columns of one chunk


@dataclass
class Plans:
    """What to sketch: feature columns (drift and quality) and prediction columns."""

    features: dict[str, ColumnPlan]
    prediction: dict[str, ColumnPlan]

    @property
    def columns(self) -> list[str]:
        return [*self.features, *(c for c in self.prediction if c not in self.features)]


@dataclass
class Profiled:
    """The merged sketches of one batch (or frame) and its row count."""

    rows: int = 0
    features: dict[str, Sketch] = field(default_factory=dict)
    prediction: dict[str, Sketch] = field(default_factory=dict)
    frame: pd.DataFrame | None = None  # the whole batch, kept only when it has at most ``keep_rows`` rows

    def add(self, other: Profiled) -> None:
        self.rows += other.rows
        merge(self.features, other.features)
        merge(self.prediction, other.prediction)


def plans_for(profile: dict[str, Any] | None, contract: Any = None) -> Plans:
    """The sketch plans a pass needs: every profiled or contracted feature, every profiled prediction column."""
    refs = (profile or {}).get("features", {})
    specs = {c.name: c for c in contract.columns} if contract is not None else {}
    names = [n for n in [*refs, *(s for s in specs if s not in refs)] if n not in GATEWAY_COLUMNS and n != "prediction"]
    features = {name: plan_column(name, refs.get(name), specs.get(name)) for name in names}
    predictions = (profile or {}).get("prediction", {})
    return Plans(features, {name: plan_column(name, ref) for name, ref in predictions.items()})


def profile_frame(frame: pd.DataFrame, plans: Plans) -> Profiled:
    """The sketches of an in-memory frame: the in-memory pass, and each CSV chunk."""
    features = {n: sketch_series(p, frame[n]) for n, p in plans.features.items() if n in frame.columns}
    prediction = {n: sketch_series(p, frame[n]) for n, p in plans.prediction.items() if n in frame.columns}
    return Profiled(len(frame), features, prediction)


def judge(
    profiled: Profiled,
    profile: dict[str, Any] | None,
    contract: Any = None,
    tests: tuple[str, ...] = (),
    psi_threshold: float = PSI_THRESHOLD,
    expected_rows: float | None = None,
    plans: Plans | None = None,
) -> tuple[DriftResult | None, QualityResult]:
    """Drift (None without a profile) and data quality of merged sketches."""
    plans = plans or plans_for(profile, contract)
    drift_result = None
    if profile is not None:
        all_plans = {**plans.features, **plans.prediction}
        prediction = profiled.prediction if profiled.rows else {}
        drift_result = sketches_drift(profile, profiled.features, prediction, tests, psi_threshold, all_plans)
    quality = sketches_quality(profiled.rows, profiled.features, profile, contract, expected_rows, drift_result)
    return drift_result, quality


# --- reading ---------------------------------------------------------------------------------------------
def batch_format(path: str | Path) -> str:
    """ "parquet" or "csv" for a batch file; a one-line UsageError for anything else."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"batch file {path} does not exist", "pass a CSV or Parquet file")
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic == b"PAR1":
        return "parquet"
    if path.suffix.lower() in (".parquet", ".pq"):
        raise UsageError(f"batch file {path} is not a Parquet file (no Parquet header)", "check how it was written")
    if path.suffix.lower() in (".csv", ".txt"):
        return "csv"
    raise UsageError(f"batch file {path} is neither Parquet nor CSV", "convert it to .parquet or .csv")


def stream_batch(
    path: str | Path,
    plans: Plans,
    progress: Progress | None = None,
    chunk_rows: int = CHUNK_ROWS,
    scorer: Scorer | None = None,
    keep_rows: int = 0,
) -> Profiled:
    """The merged sketches of a Parquet or CSV batch, read ``chunk_rows`` at a time.

    ``scorer`` (optional) adds predictions to chunks without them (``mlgate monitor --score``).
    A batch of at most ``keep_rows`` rows is also kept whole as ``.frame`` (for what needs rows,
    such as labels); a bigger one is not.
    """
    import pandas as pd

    kind = batch_format(path)
    total = Profiled()
    kept: list[pd.DataFrame] | None = [] if keep_rows else None
    try:
        if kind == "parquet":
            for part in _parquet_chunks(Path(path), plans, chunk_rows, progress, scorer, keep_rows):
                total.add(part)
                kept = _keep(kept, part, total.rows, keep_rows)
        else:
            for part in _csv_chunks(Path(path), plans, chunk_rows, progress, scorer):
                total.add(part)
                kept = _keep(kept, part, total.rows, keep_rows)
        if kept is not None:
            total.frame = pd.concat(kept, ignore_index=True) if kept else pd.DataFrame()
    except UsageError:
        raise
    except (OSError, ValueError, UnicodeDecodeError) as exc:  # pyarrow's errors are ValueErrors / OSErrors
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"batch file {path} cannot be read as {kind}: {first}", "check the file") from exc
    return total


def _keep(kept: list[pd.DataFrame] | None, part: Profiled, rows: int, keep_rows: int) -> list[pd.DataFrame] | None:
    if kept is None or part.frame is None or rows > keep_rows:
        return None
    kept.append(part.frame)
    return kept


def read_batch(path: str | Path, progress: Progress | None = None, chunk_rows: int = 250_000) -> pd.DataFrame:
    """A whole CSV or Parquet file as one frame (the in-memory pass; gateway-sized data only)."""
    import pandas as pd

    kind = batch_format(path)
    if kind == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pandas()
    chunks = [chunk for chunk, _done in _csv_frames(Path(path), chunk_rows, progress)]
    return pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame()


def _with_predictions(frame: pd.DataFrame, plans: Plans, scorer: Scorer | None) -> pd.DataFrame:
    if scorer is None or not plans.prediction or any(n in frame.columns for n in plans.prediction):
        return frame
    predicted = scorer(frame)
    predicted.index = frame.index
    return frame.join(predicted[[c for c in predicted.columns if c not in frame.columns]])


def _csv_frames(path: Path, chunk_rows: int, progress: Progress | None) -> Any:
    import pandas as pd

    size = path.stat().st_size
    with path.open("rb") as handle:
        for chunk in pd.read_csv(handle, chunksize=chunk_rows):
            yield chunk, min(handle.tell(), size)
            if progress:
                progress(min(handle.tell(), size), size)


def _csv_chunks(path: Path, plans: Plans, chunk_rows: int, progress: Progress | None, scorer: Scorer | None) -> Any:
    for chunk, _done in _csv_frames(path, chunk_rows, progress):
        frame = _with_predictions(chunk, plans, scorer)
        part = profile_frame(frame, plans)
        part.frame = frame
        yield part


def _parquet_chunks(
    path: Path, plans: Plans, chunk_rows: int, progress: Progress | None, scorer: Scorer | None, keep_rows: int
) -> Any:
    import pyarrow.parquet as pq

    probe = pq.ParquetFile(path)
    present = set(probe.schema_arrow.names)
    wanted = [c for c in plans.columns if c in present]
    scoring = scorer is not None and plans.prediction and not any(c in present for c in plans.prediction)
    keeping = probe.metadata.num_rows <= keep_rows
    if scoring or keeping:
        wanted = list(probe.schema_arrow.names)
    strings = [] if keeping else [c for c in wanted if _is_string(probe.schema_arrow.field(c).type)]
    file = pq.ParquetFile(path, read_dictionary=strings, pre_buffer=False)  # pre-buffering keeps every row group
    total, done = file.metadata.num_rows, 0
    sections = (("features", plans.features), ("prediction", plans.prediction))
    jobs = [(section, name, plan) for section, chosen in sections for name, plan in chosen.items() if name in present]
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:  # numpy and Arrow let go of the GIL while they count
        for batch in file.iter_batches(batch_size=chunk_rows, columns=wanted, use_threads=True):
            if scoring or keeping:
                frame = _with_predictions(batch.to_pandas(), plans, scorer)
                part = profile_frame(frame, plans)
                part.frame = frame
            else:
                part = Profiled(batch.num_rows)
                sketched = pool.map(lambda job, b=batch: sketch_arrow(job[2], b.column(job[1])), jobs)
                for (section, name, _plan), sketch in zip(jobs, sketched, strict=True):
                    getattr(part, section)[name] = sketch
            done += batch.num_rows
            if progress:
                progress(done, total)
            yield part


def _is_string(kind: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def sketch_arrow(plan: ColumnPlan, array: pa.Array) -> Sketch:
    """The sketch of one Arrow column chunk: numbers straight from Arrow's buffers, categories by Arrow counts."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = array.type
    if plan.kind == "numeric":
        if (pa.types.is_floating(kind) or pa.types.is_integer(kind)) and not pa.types.is_dictionary(kind):
            values = array.to_numpy(zero_copy_only=False)
            return sketch_values(plan, values if values.dtype == np.float64 else values.astype("float64"))
        return sketch_series(plan, array.to_pandas())
    if pa.types.is_dictionary(kind):
        indices = array.indices.to_numpy(zero_copy_only=False)
        valid = indices[~np.isnan(indices)] if indices.dtype.kind == "f" else indices
        found = np.bincount(valid.astype(np.intp), minlength=len(array.dictionary))
        values, numbers = array.dictionary.to_pylist(), found.tolist()
    else:
        counted = pc.value_counts(array.drop_null())
        values, numbers = counted.field("values").to_pylist(), counted.field("counts").to_pylist()
    merged: dict[str, int] = {}
    for value, n in zip(values, numbers, strict=True):
        if n and value is not None:
            key = category_key(value)
            merged[key] = merged.get(key, 0) + int(n)
    return CategoricalSketch(len(array), array.null_count, merged)
