"""`mlgate migrate`: move a model's history off its registered model, into its history experiment."""

from __future__ import annotations

import click

from mlgate.cli.render import emit_json


@click.command()
@click.argument("name", required=False)
@click.option("--all", "all_models", is_flag=True, help="Migrate every registered model.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def migrate(name: str | None, all_models: bool, as_json: bool) -> None:
    """Move NAME's history (events kept as tags of the registered model) to the experiment mlgate-history/NAME,
    and the JSON its versions kept as tags (card, approvals, smoke reference) off their pages.

    Copies each event or record under its key, verifies every copy, then deletes the old tags. Idempotent: an
    interrupted run resumes when run again, and a model already migrated is left as it is."""
    from mlgate import api

    done = api.migrate(name, all_models=all_models)
    if as_json:
        emit_json([m.to_dict() for m in done])
        return
    for m in done:
        click.echo(m.describe())
    if all_models:
        moved = sum(m.found for m in done)
        click.echo(f"{len(done)} model(s) checked, {moved} event(s) moved")


COMMANDS = [migrate]
