"""CLI command `mlgate monitor`: one monitoring pass (cron-able), or a pass every --every seconds."""

from __future__ import annotations

import time
from typing import Any

import click

from mlgate.cli.params import DURATION
from mlgate.cli.render import emit_json
from mlgate.exceptions import MlgateError


def _progress(enabled: bool) -> Any:
    if not enabled:
        return None
    shown = {"pct": -1}

    def report(done: int, total: int) -> None:
        pct = int(100 * done / total) if total else 100
        if pct != shown["pct"]:
            shown["pct"] = pct
            click.echo(f"\rreading batch: {pct:3d}%", err=True, nl=(pct >= 100))

    return report


def _render(result: Any) -> None:
    click.echo(f"{result.model} v{result.version} at {result.at}: {result.rows} rows from {result.source}")
    if result.drift is not None:
        drifted = ", ".join(result.drift.drifted) or "none"
        click.echo(f"  drift: max PSI {result.drift.max_psi:.3f}; drifted: {drifted}")
        methods: dict[str, int] = {}
        for column in [*result.drift.features.values(), *result.drift.prediction.values()]:
            methods[column.method] = methods.get(column.method, 0) + 1
        if set(methods) - {"psi"}:
            click.echo("  drift methods at this size: " + ", ".join(f"{m} ({n} col.)" for m, n in methods.items()))
    if result.quality is not None:
        click.echo(f"  quality: {len(result.quality.anomalies)} anomaly(ies)")
        for anomaly in result.quality.anomalies[:10]:
            click.echo(f"    - {anomaly}")
    if result.health is not None and result.health.requests:
        h = result.health
        click.echo(
            f"  health: {h.requests} requests, error rate {h.error_rate:.2%}, p50/p95/p99 "
            f"{h.latency_p50_ms:.0f}/{h.latency_p95_ms:.0f}/{h.latency_p99_ms:.0f} ms"
        )
    for kpi in result.kpis:
        state = f"error: {kpi.error}" if kpi.error else f"{kpi.value:.4g} ({kpi.change:+.1%} vs {kpi.baseline:.4g})"
        click.echo(f"  kpi {kpi.name}: {state}{'  MOVED' if kpi.breached else ''}")
    if result.cost is not None and result.cost.per_inference is not None:
        click.echo(f"  cost: {result.cost.per_inference:.4g} {result.cost.currency} per inference")
    truth = result.truth
    if truth is not None:
        coverage = "n/a" if truth.coverage is None else f"{truth.coverage:.0%}"
        click.echo(f"  labels: {truth.labelled} of {truth.rows} answered rows ({coverage})")
        for metric, value in truth.realized.items():
            if metric in ("accuracy", "f1", "roc_auc", "rmse", "mae"):
                click.echo(f"    realized {metric}: {value:.3f}")
        for metric, est in truth.estimated.items():
            click.echo(f"    estimated {metric} (CBPE): {est.value:.3f} [{est.low:.3f}, {est.high:.3f}]")
    for check in result.checks:
        state = "FIRING" if check["breached"] else ("no data" if check["value"] is None else "ok")
        click.echo(f"  [{state}] {check['severity']}: {check['rule']}")
    for note in result.notifications:
        click.echo(f"  alert {note['alert']}: {note['action']} -> {note.get('person') or note.get('error')}")
        for failed in [d for d in note.get("deliveries") or [] if not d["ok"]]:
            click.echo(f"    not delivered to {failed['target']}: {failed['error']}")
    for note in result.notes:
        click.echo(f"  note: {note}")
    click.echo(f"  report: {result.report_path}")


@click.command()
@click.argument("name")
@click.option(
    "--window", type=DURATION, default="1h", show_default=True, help="Traffic window of each pass (90s, 30m, 1h, 1d)."
)
@click.option("--every", "interval", type=DURATION, help="Run a pass every this long (e.g. 60s) until interrupted.")
@click.option("--batch", type=click.Path(dir_okay=False), help="Monitor a CSV / Parquet file instead of the gateway.")
@click.option("--score", is_flag=True, help="Score a --batch without predictions with the model (prediction drift).")
@click.option("--version", help="Version whose reference profile to compare with (default: production).")
@click.option("--test", "tests", multiple=True, type=click.Choice(["ks", "chi2"]), help="Add a statistical test.")
@click.option("--report-dir", type=click.Path(file_okay=False), help="Where HTML reports go.")
@click.option("--no-alert", is_flag=True, help="Evaluate rules but send nothing.")
@click.option("--fail-on-alert", is_flag=True, help="Exit 1 when a rule is firing (for CI or cron mail).")
@click.option("--max-passes", type=int, hidden=True, help="Stop --every after this many passes.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def monitor(
    name: str,
    window: float,
    interval: float | None,
    batch: str | None,
    score: bool,
    version: str | None,
    tests: tuple[str, ...],
    report_dir: str | None,
    no_alert: bool,
    fail_on_alert: bool,
    max_passes: int | None,
    as_json: bool,
) -> None:
    """Monitor NAME: drift, data quality, service health, KPIs and cost; alert its owner; write a report."""
    from mlgate import api

    passes = 0
    firing = False
    while True:
        passes += 1
        try:
            result = api.monitor(
                name, window=window, batch=batch, version=version, tests=tests or None,
                report_dir=report_dir, alert=not no_alert, score=score, progress=_progress(bool(batch) and not as_json),
            )  # fmt: skip
        except MlgateError as exc:
            if interval is None:
                raise
            click.echo(f"error: {exc} (next pass in {interval:.0f} s)", err=True)
        else:
            firing = bool(result.firing)
            if as_json:
                emit_json(result.to_dict())
            else:
                _render(result)
        if interval is None or (max_passes is not None and passes >= max_passes):
            break
        time.sleep(interval)
    if fail_on_alert and firing:
        click.get_current_context().exit(1)


COMMANDS = [monitor]
