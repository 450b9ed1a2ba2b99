"""The monitoring pass where a lake-sized table lives: column sketches computed by Spark, judged on the driver.

    from mlgate import api
    result = api.monitor("fraud", batch=spark.table("scoring.fraud_daily"))   # a pyspark DataFrame

Spark computes the same mergeable sketches as a streamed file (mlgate.stats.sketch) with plain
aggregations: one pass for row, null, bin and bound counts of every column, one grouped count
for every numeric column's fine grid, and one grouped count per categorical column. Only those
counts reach the driver, which runs the same drift, quality and alert logic as every other
pass, so the verdicts equal the pandas pass on the same rows. Needs the ``spark`` extra
(``pip install 'mlgate[spark]'``) and a Java runtime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mlgate.exceptions import MissingExtraError, MlgateError
from mlgate.monitor.stream import Plans, Profiled
from mlgate.stats.drift import category_key
from mlgate.stats.sketch import CategoricalSketch, ColumnPlan, NumericSketch, Sketch

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def is_spark_frame(data: Any) -> bool:
    """Whether ``data`` is a pyspark DataFrame (without importing pyspark)."""
    return type(data).__module__.startswith("pyspark.sql") and hasattr(data, "sparkSession")


def spark_session(master: str = "local[2]", app: str = "mlgate-monitor", **conf: str) -> SparkSession:
    """A Spark session (the active one, or a new one on ``master``); one-line MlgateError when it cannot start."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise MissingExtraError("spark", "monitoring on Spark", "pyspark") from exc
    builder = SparkSession.builder.master(master).appName(app)
    for key, value in conf.items():
        builder = builder.config(key.replace("__", "."), value)
    try:
        return builder.getOrCreate()
    except Exception as exc:  # a JVM that does not start raises anything from RuntimeError to OSError
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)[:200]
        raise MlgateError(
            f"Spark session cannot start: {first}",
            "install a Java runtime (Debian: apt-get install openjdk-17-jre-headless) and check JAVA_HOME",
        ) from exc


def spark_profile(frame: Any, plans: Plans) -> Profiled:
    """The merged sketches of a pyspark DataFrame, computed by Spark; only counts come back to the driver."""
    from pyspark.sql import functions as F

    present = set(frame.columns)
    chosen = {**plans.features, **plans.prediction}
    chosen = {name: plan for name, plan in chosen.items() if name in present}
    numeric = {name: plan for name, plan in chosen.items() if plan.kind == "numeric"}
    numbers = {name: _number(frame, name) for name in numeric}
    aggregates = [F.count(F.lit(1)).alias("__rows")]
    for i, (name, plan) in enumerate(numeric.items()):
        x, raw = numbers[name], F.col(f"`{name}`")
        aggregates.append(F.count(x).alias(f"n{i}"))
        aggregates.append(F.sum(F.when(raw.isNotNull() & x.isNull() & ~_nan(frame, name), 1)).alias(f"e{i}"))
        aggregates += [F.sum(F.when(x < float(e), 1)).alias(f"b{i}_{j}") for j, e in enumerate(plan.edges)]
        if plan.low is not None:
            aggregates.append(F.sum(F.when(x < float(plan.low), 1)).alias(f"lo{i}"))
        if plan.high is not None:
            aggregates.append(F.sum(F.when(x > float(plan.high), 1)).alias(f"hi{i}"))
        if plan.integer:
            aggregates.append(F.sum(F.when(x != F.floor(x), 1)).alias(f"fr{i}"))
    totals = frame.agg(*aggregates).collect()[0].asDict()
    rows = int(totals["__rows"])
    fine = _fine_counts(frame, numeric, numbers)
    sketches: dict[str, Sketch] = {}
    for i, (name, plan) in enumerate(numeric.items()):
        nonnull = int(totals[f"n{i}"])
        errors = int(totals[f"e{i}"] or 0)
        below = [int(totals[f"b{i}_{j}"] or 0) for j in range(len(plan.edges))]
        sketch = NumericSketch(rows, rows - nonnull - errors, np.diff(np.asarray([0, *below, nonnull], "int64")),
                               fine.get(name, np.zeros(plan.cells + 2, "int64")), type_errors=errors)  # fmt: skip
        sketch.out_low = int(totals.get(f"lo{i}") or 0)
        sketch.out_high = int(totals.get(f"hi{i}") or 0)
        sketch.fractional = int(totals.get(f"fr{i}") or 0)
        sketches[name] = sketch
    for name, plan in chosen.items():
        if plan.kind == "categorical":
            sketches[name] = _categories(frame, name, rows)
    return Profiled(
        rows,
        {n: s for n, s in sketches.items() if n in plans.features},
        {n: s for n, s in sketches.items() if n in plans.prediction},
    )


def _nan(frame: DataFrame, name: str) -> Any:
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, FloatType

    if isinstance(frame.schema[name].dataType, DoubleType | FloatType):
        return F.isnan(F.col(f"`{name}`"))
    return F.lit(False)


def _number(frame: DataFrame, name: str) -> Any:
    """The column as a double, null for nulls, NaN and values that are not numbers (Spark orders NaN last)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import BooleanType, NumericType

    kind = frame.schema[name].dataType
    raw = F.col(f"`{name}`")
    if isinstance(kind, NumericType) and not isinstance(kind, BooleanType):
        as_double = raw.cast("double")
        return F.when(~F.isnan(as_double), as_double)
    as_double = F.expr(f"try_cast(`{name}` AS DOUBLE)")
    return F.when(~F.isnan(as_double), as_double)


def _fine_counts(frame: DataFrame, numeric: dict[str, ColumnPlan], numbers: dict[str, Any]) -> dict[str, np.ndarray]:
    """Every numeric column's counts over its fine grid, in one grouped count of (column, slot) pairs."""
    from pyspark.sql import functions as F

    gridded = {name: plan for name, plan in numeric.items() if plan.cells}
    if not gridded:
        return {}
    pairs = []
    for i, (name, plan) in enumerate(gridded.items()):
        slot = F.floor((numbers[name] - F.lit(plan.lo)) * F.lit(1.0 / plan.width) + F.lit(1.0))  # as numpy does
        slot = F.when(numbers[name].isNotNull(), F.least(F.greatest(slot, F.lit(0)), F.lit(plan.cells + 1)))
        slot = slot.cast("int")  # greatest / least skip nulls: a null must stay null, not land in slot 0
        pairs.append(F.struct(F.lit(i).alias("c"), slot.alias("s")))
    exploded = frame.select(F.explode(F.array(*pairs)).alias("p")).select("p.c", "p.s").where(F.col("s").isNotNull())
    names = list(gridded)
    out = {name: np.zeros(plan.cells + 2, "int64") for name, plan in gridded.items()}
    for row in exploded.groupBy("c", "s").count().collect():
        out[names[row["c"]]][row["s"]] += int(row["count"])
    return out


def _categories(frame: DataFrame, name: str, rows: int) -> CategoricalSketch:
    counts: dict[str, int] = {}
    nulls = 0
    for row in frame.groupBy(f"`{name}`").count().collect():
        value, n = row[0], int(row["count"])
        if value is None or (isinstance(value, float) and value != value):
            nulls += n
            continue
        key = category_key(value)
        counts[key] = counts.get(key, 0) + n
    return CategoricalSketch(rows, nulls, counts)
