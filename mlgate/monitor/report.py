"""The monitoring report: one self-contained HTML file (plots as base64 PNG, no external assets)."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.config.paths import project_relative
from mlgate.extras import require_extra

if TYPE_CHECKING:
    from mlgate.monitor.run import PassResult

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:16px;color:#1d232a;max-width:1100px;
overflow-wrap:anywhere}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde}
.meta{color:#556;font-size:13px}table{border-collapse:collapse;font-size:13px;margin:6px 0;max-width:100%}
td,th{border:1px solid #dde;padding:4px 8px;text-align:left;overflow-wrap:anywhere;word-break:break-word}
th{background:#f3f5f8}
.check{padding:6px 10px;margin:4px 0;border-radius:4px;font-size:14px}
.check.ok{background:#e8f6ee;border-left:4px solid #2eb67d}
.check.firing{background:#fdecea;border-left:4px solid #d00000}
.check.nodata{background:#f3f3f3;border-left:4px solid #999}
.figure{display:inline-block;margin:6px 12px 6px 0;vertical-align:top;max-width:100%}
.figure figcaption{font-size:12px;color:#556}
.plot{display:block;width:480px;max-width:100%;height:auto}.bad{color:#b00000;font-weight:600}
@media (max-width:600px){table{display:block;overflow-x:auto}}
"""


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _figure(title: str, png: str) -> str:
    alt = html.escape(title)
    return (
        f'<figure class="figure"><img class="plot" alt="{alt}" src="data:image/png;base64,{png}">'
        f"<figcaption>{alt}</figcaption></figure>"
    )


def distribution_plot(column: dict[str, Any]) -> str:
    """Reference vs current shares of one column's bins (base64 PNG)."""
    require_extra("reports", "charts in the monitoring report")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    labels = column["labels"]
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar(x - 0.2, column["reference_share"], 0.4, label="reference", color="#7f8fa6")
    ax.bar(x + 0.2, column["current_share"], 0.4, label="current", color="#e17055")
    ax.set_xticks(x, [str(label)[:14] for label in labels], rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("share of rows")
    ax.set_title(f"{column['name']}  (PSI {column['psi']:.3f})", fontsize=10)
    ax.legend(fontsize=8)
    return _png(fig)


def timeline_plot(title: str, times: list[str], series: dict[str, list[float | None]]) -> str:
    """One or more metrics over time (base64 PNG)."""
    require_extra("reports", "charts in the monitoring report")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    stamps = pd.to_datetime(pd.Series(times), utc=True, format="ISO8601")
    fig, axes = plt.subplots(len(series), 1, figsize=(6, 1.6 * len(series) + 0.6), sharex=True, squeeze=False)
    for ax, (name, values) in zip(axes[:, 0], series.items(), strict=True):
        ax.plot(stamps, [float("nan") if v is None else v for v in values], marker="o", ms=3, color="#2b7bb9")
        ax.set_ylabel(name, fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].set_title(title, fontsize=10)
    fig.autofmt_xdate()
    return _png(fig)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _num(value: Any, spec: str = ".4g") -> str:
    return "n/a" if value is None else format(value, spec)


def render_html(result: PassResult, history: list[dict[str, Any]] | None = None, root: Path | None = None) -> str:
    """The HTML report of one monitoring pass (``history``: earlier passes' signals for timelines).

    Fits the MLflow UI's artifact viewer (~800 px); paths under ``root`` (the project) are named relative to it."""
    data = result.to_dict()
    esc = html.escape
    parts = [
        f"<h1>Monitoring report: {esc(result.model)} v{esc(str(result.version))}</h1>",
        f'<div class="meta">pass at {esc(result.at)} &middot; source {esc(result.source)} &middot; '
        f"{result.rows} rows &middot; window {esc(result.window_label)}</div>",
        "<h2>Alert rules</h2>",
    ]
    if not result.checks:
        parts.append('<div class="check nodata">no alert rules configured (mlflow_config/alerts.yaml)</div>')
    for check in result.checks:
        state = "nodata" if check["value"] is None else ("firing" if check["breached"] else "ok")
        label = {"ok": "OK", "firing": "FIRING", "nodata": "NO DATA"}[state]
        parts.append(f'<div class="check {state}"><b>{label}</b> [{esc(check["severity"])}] {esc(check["rule"])}</div>')

    drift = data.get("drift")
    if drift:
        parts.append("<h2>Drift against the reference profile</h2>")
        rows = []
        for name, col in {**drift["features"], **drift["prediction"]}.items():
            tests = col.get("test") or ", ".join(
                f"{t} p={col[f'{t}_p_value']:.3g}" for t in ("ks", "chi2") if col.get(f"{t}_p_value") is not None
            )
            flag = '<span class="bad">drifted</span>' if col["drifted"] else "stable"
            method = esc(col.get("method", "psi"))
            rows.append([esc(name), col["kind"], f"{col['psi']:.4f}", method, esc(tests), flag])
        parts.append(_table(["column", "kind", "PSI", "method", "tests", "verdict"], rows))
        plotted = [drift["features"][n] for n in drift["drifted"]] + list(drift["prediction"].values())
        for col in plotted:
            parts.append(_figure(f"{col['name']}: reference vs current", distribution_plot(col)))
    quality = data.get("quality")
    if quality:
        parts.append("<h2>Data quality</h2>")
        anomalies = quality["anomalies"] or ["none"]
        parts.append("<ul>" + "".join(f"<li>{esc(a)}</li>" for a in anomalies) + "</ul>")
        parts.append(f"<div class='meta'>contract: {esc(str(quality['contract'] or 'none (reference profile)'))}</div>")
    health = data.get("health")
    if health:
        parts.append("<h2>Service health</h2>")
        row = [
            health["requests"],
            _num(health["error_rate"], ".2%"),
            _num(health["latency_p50_ms"], ".1f"),
            _num(health["latency_p95_ms"], ".1f"),
            _num(health["latency_p99_ms"], ".1f"),
            _num(health["throughput_rps"], ".3g"),
        ]
        parts.append(_table(["requests", "error rate", "p50 ms", "p95 ms", "p99 ms", "throughput /s"], [row]))
        timeline = health.get("timeline") or []
        if len(timeline) > 1:
            series = {k: [b[k] for b in timeline] for k in ("requests", "error_rate", "latency_p95_ms")}
            parts.append(
                _figure("service over the window", timeline_plot("service", [b["start"] for b in timeline], series))
            )
    if data.get("kpis"):
        parts.append("<h2>Business KPIs</h2>")
        rows = []
        for k in data["kpis"]:
            verdict = "error: " + esc(k["error"]) if k["error"] else "ok"
            verdict = '<span class="bad">moved</span>' if k["breached"] else verdict
            change = _num(k["change"], "+.1%")
            rows.append([esc(k["name"]), _num(k["value"]), _num(k["baseline"]), change, verdict, esc(k["source"])])
        parts.append(_table(["KPI", "value", "baseline", "change", "verdict", "source"], rows))
    cost = data.get("cost")
    if cost:
        parts.append("<h2>Cost</h2>")
        total = f"{cost['total']:.4g} {cost['currency']}"
        row = [total, _num(cost["per_inference"]), _num(cost["per_success"]), esc(cost["basis"])]
        parts.append(_table(["total", "per inference", "per successful task", "basis"], [row]))
    truth = data.get("ground_truth")
    if truth:
        parts.append("<h2>Model performance</h2>")
        coverage = "no rows" if truth["label_coverage"] is None else f"{truth['label_coverage']:.1%}"
        parts.append(
            f"<p>labels: {truth['labelled']} of {truth['rows']} answered rows ({coverage}); "
            f"unparseable labels: {truth['unparseable_labels']}</p>"
        )
        names = sorted(set(truth["realized"]) | set(truth["estimated"]))
        rows = []
        for metric in names:
            est = truth["estimated"].get(metric)
            band = f"{_num(est['low'], '.3f')} – {_num(est['high'], '.3f')}" if est else ""
            rows.append(
                [esc(metric), _num(truth["realized"].get(metric), ".4f"), _num(est and est["value"], ".4f"), band]
            )
        if rows:
            parts.append(_table(["metric", "realized (labels)", "estimated (CBPE)", "95 % band"], rows))
        parts += [f"<p class='note'>{esc(n)}</p>" for n in truth["notes"]]
    points = [*(history or []), {"at": result.at, "signals": result.signals}]
    if len(points) > 1:
        keys = [k for k in ("drift.max_psi", "quality.anomalies", "health.error_rate", "health.latency_p95_ms")
                if any(p["signals"].get(k) is not None for p in points)]  # fmt: skip
        keys += [k for k in result.signals if k.startswith("kpi.") and k.endswith(".value")][:2]
        if keys:
            series = {k: [p["signals"].get(k) for p in points] for k in keys}
            parts.append("<h2>Metric timelines (recent passes)</h2>")
            parts.append(_figure("signals over passes", timeline_plot("passes", [p["at"] for p in points], series)))
    body = "\n".join(parts)
    title = f"mlgate monitor {esc(result.model)}"
    page = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{_CSS}</style></head><body>{body}</body></html>"
    )
    return project_relative(page, root)
