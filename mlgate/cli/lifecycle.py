"""CLI commands of the release lifecycle: register, promote, rollback, smoke, status, history, which."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from mlgate.cli.params import MOMENT
from mlgate.cli.render import emit_json, table

json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
at_option = click.option(
    "--at", "at", type=MOMENT, help='A past moment: ISO-8601 (UTC unless zoned, e.g. 2025-03-04T03:12) or "2h ago".'
)


@click.command()
@click.argument("name")
@click.option("--model-uri", required=True, help="A logged model: models:/m-<id> or runs:/<run id>/<name>.")
@click.option("--card", required=True, type=click.Path(dir_okay=False), help="The model card (CARD.yaml).")
@click.option("--contract", type=click.Path(dir_okay=False), help="The data contract the model serves.")
@json_option
def register(name: str, model_uri: str, card: str, contract: str | None, as_json: bool) -> None:
    """Register a logged model as a new version of NAME with its model card."""
    from mlgate import api

    result = api.register(name, model_uri, card, contract=contract)
    if as_json:
        emit_json(result.to_dict())
        return
    click.echo(f"registered {name} v{result.version} (owner {result.card.owner}) as a candidate")
    if result.contract:
        click.echo(f"  contract {result.contract['name']}@{result.contract['version']} bound")


@click.command()
@click.argument("name")
@click.argument("version")
@click.option("--to", "stage", required=True, type=click.Choice(["staging", "production"]), help="Target stage.")
@click.option("--force", is_flag=True, help="Bypass the release gate (needs --reason; recorded).")
@click.option("--reason", help="Why; recorded in the history.")
@json_option
def promote(name: str, version: str, stage: str, force: bool, reason: str | None, as_json: bool) -> None:
    """Promote VERSION of NAME to staging or production."""
    from mlgate import api

    result = api.promote(name, version, stage, force=force, reason=reason)
    if as_json:
        emit_json(result.to_dict())
        return
    moved = f"from v{result.previous}" if result.previous else "(first)"
    if not result.changed:
        click.echo(f"{name} v{version} is already {stage}; records completed")
    else:
        click.echo(f"{name} {stage}: v{version} {moved}")
    if result.forced:
        click.echo(f"  gate: {result.gate} -- reason: {reason}")
    else:
        click.echo(f"  gate: {result.gate}")
    if result.smoke:
        click.echo(f"  {result.smoke.summary()}")
    click.echo(f"  last known good: {'v' + result.last_known_good if result.last_known_good else 'none'}")


@click.command()
@click.argument("name")
@click.option("--to", "to", help="Roll back to this version instead of the last known good.")
@click.option("--reason", help="Why; recorded on the rolled-back version and in the history.")
@click.option("--dry-run", is_flag=True, help="Print the checklist's answers as a runbook and change nothing.")
@click.option("--force", is_flag=True, help="Allow a --to target that does not qualify as last known good.")
@click.option("--accept-irreversible", is_flag=True, help="Roll back across irreversible data migrations.")
@json_option
def rollback(
    name: str, to: str | None, reason: str | None, dry_run: bool, force: bool, accept_irreversible: bool, as_json: bool
) -> None:
    """Answer the rollback checklist, move NAME's production back to its last known good, smoke-test it."""
    from mlgate import api
    from mlgate.release.rollback.runbook import render_plan

    result = api.rollback(
        name, to=to, reason=reason, dry_run=dry_run, force=force, accept_irreversible=accept_irreversible
    )
    if as_json:
        emit_json(result.to_dict())
        return
    click.echo(render_plan(result.plan, result, dry_run=dry_run), nl=False)
    if result.smoke:
        click.echo(f"last known good now: {'v' + result.last_known_good if result.last_known_good else 'none'}")


@click.command()
@click.argument("name")
@click.option("--version", help="Version to test (default: production).")
@click.option("--endpoint", help="Base URL of the inference endpoint (default: the configured one, else in-process).")
@json_option
def smoke(name: str, version: str | None, endpoint: str | None, as_json: bool) -> None:
    """Smoke-test a version of NAME (default: production). Exit 1 when it fails."""
    from mlgate import api

    result = api.smoke(name, version, endpoint=endpoint)
    if as_json:
        emit_json(result.to_dict())
    else:
        for check in result.checks:
            mark = "skip" if getattr(check, "skipped", False) else ("ok  " if check.passed else "FAIL")
            click.echo(f"  {mark} {check.name}: {check.detail}")
        for note in getattr(result, "notes", None) or []:
            click.echo(f"  note {note}")
        click.echo(result.summary())
    if not result.passed:
        click.get_current_context().exit(1)


@click.command()
@click.argument("name")
@at_option
@json_option
def status(name: str, at: float | None, as_json: bool) -> None:
    """Show every alias of NAME, the last known good version, and each version's state (--at: at that moment)."""
    from mlgate import api

    report = api.status(name, at=at)
    if as_json:
        emit_json(report.to_dict())
        return
    if report.at is not None:
        _render_past(report)
        return
    click.echo(f"model {name}  ({report.tracking_uri})")
    for alias, version in sorted(report.aliases.items()):
        click.echo(f"  {alias:<16} v{version}")
    if not report.aliases:
        click.echo("  (no aliases)")
    click.echo(f"  last known good  {'v' + report.last_known_good if report.last_known_good else 'none'}")
    if report.canary_weight:
        click.echo(f"  canary weight    {report.canary_weight}%")
    if report.lock:
        click.echo(f"  LOCKED by {report.lock.holder} ({report.lock.purpose})")
    signed = report.extra.get("approvals") or {}  # mlgate approve / reject: where each version's sign-off stands
    rows = [
        (
            f"v{v.version}",
            v.status,
            ",".join(v.aliases) or "-",
            " ".join(f"{stage}={result}" for stage, result in sorted(v.gates.items())) or "-",
            v.smoke or "-",
            v.owner or "-",
            signed.get(v.version, "-"),
        )
        for v in reversed(report.versions)
    ]
    click.echo(table(["version", "status", "aliases", "gate", "smoke", "owner", "approvals"], rows))


def _render_past(report: Any) -> None:
    past = report.at
    click.echo(f"model {report.model} at {_when(past.at)} UTC, from its history  ({report.tracking_uri})")
    for alias, version in report.aliases.items():
        weight = f" at {past.canary_weight:g}%" if alias == past.canary_alias and past.canary_weight else ""
        setter = past.set_by.get(alias)
        click.echo(f"  {alias:<16} v{version}{weight}" + (f"  <- {setter.describe()}" if setter else ""))
    if not report.aliases:
        click.echo("  (no aliases)")
    for running in past.in_progress:
        click.echo(f"  under way: {running.describe()} ({running.event.result} at {_when(running.ended)})")
    rows = [(f"v{v.version}", v.status, ",".join(v.aliases) or "-", v.owner or "-") for v in reversed(report.versions)]
    click.echo(table(["version", "status", "aliases", "owner"], rows))


def _when(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds").replace("T", " ")[:19]


@click.command()
@click.argument("name")
@click.option("--limit", type=click.IntRange(min=0), default=0, help="Show only the newest N events (a page).")
@click.option("--page", type=click.IntRange(min=1), default=1, help="With --limit: the Nth page of N events.")
@click.option("--since", type=MOMENT, help='Only events from this moment on: ISO-8601 or "2h ago".')
@at_option
@json_option
def history(name: str, limit: int, page: int, since: float | None, at: float | None, as_json: bool) -> None:
    """Every transition of NAME, newest first: time, actor, from, to, action, reason, result (--at: up to then).

    Reads only the events shown: `--limit 50` stays fast on a history of 100,000 events."""
    from mlgate import api

    skip = (page - 1) * limit if limit else 0
    events = api.history(name, at=at, limit=limit or None, since=since, skip=skip)
    if as_json:
        emit_json([e.__dict__ for e in events])
        return
    rows = [
        (
            e.at[:19].replace("T", " "),
            e.actor,
            e.action,
            f"v{e.from_version}" if e.from_version else "-",
            f"v{e.to_version}" if e.to_version else "-",
            e.result,
            (e.reason or "")[:60],
        )
        for e in events
    ]
    past = api.status(name, at=at).at if at is not None else None
    if past is not None:
        click.echo(f"at {_when(past.at)} UTC: {past.describe()}")
    click.echo(table(["time (UTC)", "actor", "action", "from", "to", "result", "reason"], rows))


@click.command()
@click.argument("name")
@click.argument("request_id")
@json_option
def which(name: str, request_id: str, as_json: bool) -> None:
    """Which version of NAME answered REQUEST_ID (the gateway's X-Mlgate-Request-Id header), and which transition
    of the history put it there."""
    from mlgate import api

    answer = api.which(name, request_id)
    if as_json:
        emit_json(answer.to_dict())
        return
    click.echo(f"request {answer.request_id} to {name} at {_when(answer.at)} UTC")
    rows = f"{answer.rows} row" + ("s" if answer.rows != 1 else "")
    click.echo(
        f"  answered by v{answer.version} on route {answer.route} "
        f"(status {answer.status}, {answer.latency_ms:.1f} ms, {rows})"
    )
    if answer.transition is not None:
        reason = f": {answer.transition.event.reason}" if answer.transition.event.reason else ""
        click.echo(f"  put there by {answer.transition.describe()}{reason}")
    click.echo(f"  aliases then: {answer.state.describe()}")
    for note in answer.notes:
        click.echo(f"  note: {note}")


COMMANDS = [register, promote, rollback, smoke, status, history, which]
