"""KPI signals for alert rules: the values read by mlgate.stats.kpi (the one KPI reader), flattened."""

from __future__ import annotations

from mlgate.stats.kpi import KpiResult


def kpi_signals(results: list[KpiResult]) -> dict[str, float | None]:
    """Flat signals: kpi.breached (count), kpi.errors, kpi.<name>.value / .change / .breached."""
    out: dict[str, float | None] = {
        "kpi.breached": float(sum(r.breached for r in results)),
        "kpi.errors": float(sum(r.error is not None for r in results)),
    }
    for r in results:
        out[f"kpi.{r.name}.value"] = r.value
        out[f"kpi.{r.name}.change"] = r.change
        out[f"kpi.{r.name}.breached"] = float(r.breached)
    return out
