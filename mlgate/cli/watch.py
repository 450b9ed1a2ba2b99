"""CLI of the post-promotion watch (`mlgate watch NAME`) and its rendering, shared with `mlgate rollout status`."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import click

from mlgate.cli.params import DURATION
from mlgate.cli.render import emit_json, table

ENDED_BADLY = ("breached", "rolled-back", "failed")  # `mlgate watch` and `rollout run` exit 1


def _clock(moment: float | None) -> str:
    return "-" if moment is None else datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _span(seconds: float) -> str:
    minutes, secs = divmod(round(max(seconds, 0.0)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def render_watch(state: Any, now: float | None = None) -> None:
    """Print a watch: what is judged against what, until when, the last look's figures, and what a breach did."""
    now = time.time() if now is None else now
    click.echo(f"watch {state.model}: v{state.version} (production) against v{state.baseline} before the change")
    line = f"  status    {state.status}"
    if state.status == "watching":
        line += f", {_span(state.ends_at - now)} left (until {_clock(state.ends_at)})"
        if now > state.ends_at:
            line += f" -- overdue: run `mlgate watch {state.model}` to finish it"
    click.echo(line + (f" -- {state.outcome}" if state.outcome and state.status != "watching" else ""))
    click.echo(f"  length    {_span(state.seconds)} from {_clock(state.started_at)} (started by {state.trigger})")
    click.echo(f"  looks     {state.checks} ({state.judged} with enough requests), last {_clock(state.last_check_at)}")
    verdict = state.verdict()
    if verdict is not None:
        click.echo(f"  last look {verdict.decision.upper()}: {verdict.reason}")
        rows = [
            (label, f"v{f.version}" if f.version else "-", f.requests, f.errors,
             "-" if f.error_rate is None else f"{f.error_rate:.4f}",
             "-" if f.p99_latency_ms is None else f"{f.p99_latency_ms:.1f}")
            for label, f in (("before the change", verdict.before), ("since", verdict.after))
        ]  # fmt: skip
        click.echo(table(["window", "version", "requests", "errors", "error rate", "p99 ms"], rows))
        if verdict.criteria:
            marks = {True: "ok", False: "BREACH", None: "n/a"}
            click.echo(
                table(
                    ["criterion", "result", "detail"], [(c.name, marks[c.passed], c.detail) for c in verdict.criteria]
                )
            )
    if state.rollback:
        rb = state.rollback
        if rb.get("to_version") and "error" not in rb:
            smoke = {True: "passed", False: "FAILED", None: "not run"}[rb.get("smoke_passed")]
            click.echo(f"  rollback  to v{rb['to_version']} (op {rb.get('op_id')}), smoke test {smoke}")
        else:
            click.echo(f"  rollback  not done: {rb.get('error')}" + (f" -> {rb['hint']}" if rb.get("hint") else ""))
    if state.alert:
        who = state.alert.get("person") or state.alert.get("owner") or "nobody"
        click.echo(f"  owner     {who}: alert {state.alert.get('action')}")


@click.command()
@click.argument("name")
@click.option("--for", "duration", type=DURATION, help="How long to watch (default: rollout.yaml's `watch`).")
@click.option("--poll", type=DURATION, default="5s", show_default=True, help="Time between looks at the record.")
@click.option("--max-time", "max_time", type=DURATION, help="Stop after this long; run again to go on.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def watch(name: str, duration: float | None, poll: float, max_time: float | None, as_json: bool) -> None:
    """Watch NAME's production against the previous version; a breach rolls back. Exit 1 after a breach.

    Safe to kill and start again: it resumes from the registry's state.
    """
    from mlgate import api

    result = api.watch(name, duration=duration, poll_seconds=poll, max_seconds=max_time)
    if as_json:
        emit_json(result.to_dict())
    else:
        for note in result.notes:
            click.echo(f"note: {note}")
        if result.state is not None:
            render_watch(result.state)
    if result.state is not None and result.state.status in ENDED_BADLY:
        click.get_current_context().exit(1)
