"""CLI commands of sign-off: `mlgate approve|reject NAME VERSION [--stage production] [--comment TEXT]`."""

from __future__ import annotations

from typing import Any

import click

from mlgate.cli.render import emit_json

STAGES = ("staging", "canary", "production")


def _options(fn: Any) -> Any:
    fn = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(fn)
    fn = click.option("--comment", help="Why; recorded with the decision, in the history and the description.")(fn)
    fn = click.option(
        "--stage", type=click.Choice(STAGES), default="production", show_default=True, help="The stage decided on."
    )(fn)
    fn = click.argument("version")(fn)
    return click.argument("name")(fn)


def _show(result: Any, as_json: bool) -> None:
    if as_json:
        emit_json(result.to_dict())
    else:
        click.echo(result.summary())


@click.command()
@_options
def approve(name: str, version: str, stage: str, comment: str | None, as_json: bool) -> None:
    """Approve VERSION of NAME for STAGE as you (the MLflow server's user under basic-auth, else mlgate's actor).

    The policy's `approval` check says who may approve and how many must; exit 1 when you may not.
    """
    from mlgate import api

    _show(api.approve(name, version, stage=stage, comment=comment or ""), as_json)


@click.command()
@_options
def reject(name: str, version: str, stage: str, comment: str | None, as_json: bool) -> None:
    """Reject VERSION of NAME for STAGE (--comment says why): the stage is blocked until a newer approval."""
    from mlgate import api

    _show(api.reject(name, version, stage=stage, comment=comment or ""), as_json)


COMMANDS = [approve, reject]
