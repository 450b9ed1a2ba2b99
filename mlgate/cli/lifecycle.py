"""CLI commands of the release lifecycle: register, promote, rollback, smoke, status, history."""

from __future__ import annotations

import click

from mlgate.cli.render import emit_json, table

json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")


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
@json_option
def status(name: str, as_json: bool) -> None:
    """Show every alias of NAME, the last known good version, and each version's state."""
    from mlgate import api

    report = api.status(name)
    if as_json:
        emit_json(report.to_dict())
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
    rows = [
        (
            f"v{v.version}",
            v.status,
            ",".join(v.aliases) or "-",
            " ".join(f"{stage}={result}" for stage, result in sorted(v.gates.items())) or "-",
            v.smoke or "-",
            v.owner or "-",
        )
        for v in reversed(report.versions)
    ]
    click.echo(table(["version", "status", "aliases", "gate", "smoke", "owner"], rows))


@click.command()
@click.argument("name")
@click.option("--limit", type=int, default=0, help="Show only the newest N events.")
@json_option
def history(name: str, limit: int, as_json: bool) -> None:
    """Every transition of NAME, newest first: time, actor, from, to, action, reason, result."""
    from mlgate import api

    events = api.history(name)
    if limit:
        events = events[:limit]
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
    click.echo(table(["time (UTC)", "actor", "action", "from", "to", "result", "reason"], rows))


COMMANDS = [register, promote, rollback, smoke, status, history]
