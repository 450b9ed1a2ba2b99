"""CLI commands of canary rollouts (`mlgate rollout ...`) and the on-call runbook (`mlgate runbook`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mlgate.cli.params import DURATION, STEPS
from mlgate.cli.render import emit_json, table
from mlgate.cli.watch import ENDED_BADLY, render_watch
from mlgate.cli.watch import watch as watch_command

json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
reason_option = click.option("--reason", help="Why; recorded in the history.")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    whole = round(seconds)
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def render_status(result: Any) -> None:
    """Print a rollout status the way `kubectl argo rollouts get` does: plan, step, figures, next decision."""
    state = result.state
    for note in result.notes:
        click.echo(f"note: {note}")
    if state is None:
        click.echo(f"{result.model}: no rollout (start one with `mlgate rollout start {result.model} VERSION`)")
        if getattr(result, "router", None):
            click.echo(f"  router    {result.router}")
        if result.watch is not None:
            render_watch(result.watch)
        return
    click.echo(f"rollout {result.model}: v{state.version} (canary) against v{state.baseline} (production)")
    click.echo(f"  status    {state.status}" + (f" -- {state.outcome}" if state.outcome else ""))
    named = ["shadow" if w == 0 else f"{w:g}%" for w in state.steps]  # 0: the shadow step (mirrored requests)
    plan = " -> ".join(f"[{n}]" if i == state.step and state.active else n for i, n in enumerate(named))
    click.echo(f"  plan      {plan}   bake {_duration(state.bake_seconds)} per step")
    now = "shadow: mirrored requests only" if state.steps[state.step] == 0 else f"canary weight now {result.weight:g}%"
    click.echo(f"  step      {state.step + 1} of {len(state.steps)}, {now}")
    if getattr(result, "router", None):
        click.echo(f"  router    {result.router}")
    if result.seconds_to_decision is not None:
        click.echo(f"  next decision in {_duration(result.seconds_to_decision)}")
    analysis = result.analysis
    if analysis is not None:
        source = "" if analysis.source == "record" else f" (from {analysis.source})"
        click.echo(f"  analysis  {analysis.decision.upper()}{source}: {analysis.reason}")
        rows = [
            (f.route, f"v{f.version}" if f.version else "-", f.requests, f.errors,
             "-" if f.error_rate is None else f"{f.error_rate:.4f}",
             "-" if f.p99_latency_ms is None else f"{f.p99_latency_ms:.1f}")
            for f in (analysis.production, analysis.canary)
        ]  # fmt: skip
        click.echo(table(["route", "version", "requests", "errors", "error rate", "p99 ms"], rows))
        if analysis.criteria:
            crit = [(c.name, {True: "ok", False: "BREACH", None: "n/a"}[c.passed], c.detail) for c in analysis.criteria]
            click.echo(table(["criterion", "result", "detail"], crit))
    if result.watch is not None:
        render_watch(result.watch)


@click.group()
def rollout() -> None:
    """Canary rollouts: start, advance, pause, resume, abort, status, run."""


@rollout.command()
@click.argument("name")
@click.argument("version")
@click.option(
    "--steps",
    type=STEPS,
    help="Canary weights in percent, e.g. 5,25,50,100 or shadow,5,25,100 (default: the policy's).",
)
@click.option(
    "--bake", type=DURATION, help="Time each step runs before it is judged, e.g. 10m (default: the policy's)."
)
@click.option("--force", is_flag=True, help="Start without a passing canary gate (needs --reason; recorded).")
@reason_option
@json_option
def start(
    name: str,
    version: str,
    steps: list[float] | None,
    bake: float | None,
    force: bool,
    reason: str | None,
    as_json: bool,
) -> None:
    """Make VERSION the canary of NAME at the first step (it must pass the canary gate)."""
    from mlgate import api

    result = api.rollout_start(name, version, steps=steps, bake=bake, reason=reason, force=force)
    emit_json(result.to_dict()) if as_json else render_status(result)


@rollout.command()
@click.argument("name")
@reason_option
@json_option
def advance(name: str, reason: str | None, as_json: bool) -> None:
    """Move the rollout of NAME to its next step now (past the last: production)."""
    from mlgate import api

    result = api.rollout_advance(name, reason=reason)
    emit_json(result.to_dict()) if as_json else render_status(result)


@rollout.command()
@click.argument("name")
@reason_option
@json_option
def pause(name: str, reason: str | None, as_json: bool) -> None:
    """Hold the canary of NAME at its current weight."""
    from mlgate import api

    result = api.rollout_pause(name, reason=reason)
    emit_json(result.to_dict()) if as_json else render_status(result)


@rollout.command()
@click.argument("name")
@json_option
def resume(name: str, as_json: bool) -> None:
    """Continue a paused rollout of NAME (the current step bakes again)."""
    from mlgate import api

    result = api.rollout_resume(name)
    emit_json(result.to_dict()) if as_json else render_status(result)


@rollout.command()
@click.argument("name")
@reason_option
@json_option
def abort(name: str, reason: str | None, as_json: bool) -> None:
    """Send all traffic of NAME back to production; the canary is marked failed."""
    from mlgate import api

    result = api.rollout_abort(name, reason=reason)
    emit_json(result.to_dict()) if as_json else render_status(result)


@rollout.command()
@click.argument("name")
@click.option("--no-live", is_flag=True, help="Do not read live figures from the gateway's record.")
@click.option("--watch", is_flag=True, help="Show it again every --every until the rollout ends.")
@click.option("--every", type=DURATION, default="5s", show_default=True, help="Time between refreshes with --watch.")
@json_option
def status(name: str, no_live: bool, watch: bool, every: float, as_json: bool) -> None:
    """Show the plan, current step, figures and time to the next decision of NAME's rollout."""
    import time

    from mlgate import api

    while True:
        result = api.rollout_status(name, live=not no_live)
        if watch and not as_json:
            click.clear()
        emit_json(result.to_dict()) if as_json else render_status(result)
        if not watch or result.state is None or not result.state.active:
            return
        time.sleep(every)


@rollout.command()
@click.argument("name")
@click.option("--poll", type=DURATION, default="5s", show_default=True, help="Time between looks at the registry.")
@click.option("--max-time", "max_time", type=DURATION, help="Stop after this long (e.g. 1h); run again to continue.")
@json_option
def run(name: str, poll: float, max_time: float | None, as_json: bool) -> None:
    """Drive NAME's rollout: judge each bake period, then advance or abort. Exit 1 when it aborts.

    Safe to kill and start again: it resumes from the registry's state.
    """
    from mlgate import api

    result = api.rollout_run(name, poll_seconds=poll, max_seconds=max_time)
    emit_json(result.to_dict()) if as_json else render_status(result)
    watched = result.watch is not None and result.watch.status in ENDED_BADLY
    if (result.state is not None and result.state.status == "aborted") or watched:
        click.get_current_context().exit(1)


@click.command()
@click.argument("name")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the Markdown here (default: stdout).")
def runbook(name: str, output: str | None) -> None:
    """Write NAME's rollback runbook as Markdown for an on-call wiki. Exit 1 when rollback is not possible."""
    from mlgate import api

    book = api.runbook(name)
    if output:
        Path(output).write_text(book.markdown)
        click.echo(f"runbook for {name} written to {output}")
    else:
        click.echo(book.markdown, nl=False)
    if not book.ready:
        click.echo(f"warning: rollback is not possible right now: {book.problem}", err=True)
        click.get_current_context().exit(1)


COMMANDS = [rollout, runbook, watch_command]
