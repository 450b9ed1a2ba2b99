"""CLI commands of ground truth: `mlgate feedback load FILE` (labels for answered requests)."""

from __future__ import annotations

import click

from mlgate.cli.render import emit_json


@click.group()
def feedback() -> None:
    """Labels for answered requests, joined to the prediction record by request id."""


@feedback.command("load")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--request-id-column", default="request_id", show_default=True, help="Column of X-Mlgate-Request-Id.")
@click.option("--label-column", default="label", show_default=True, help="Column of the true label (or value).")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def load(path: str, request_id_column: str, label_column: str, as_json: bool) -> None:
    """Store the labels in PATH (CSV or Parquet; an optional `row` column for multi-row requests).

    Rows that are not labels are reported with why; labels of request ids the record does not
    hold are kept and counted. Exit 1 when any row was rejected.
    """
    from mlgate import api

    receipt = api.feedback_load(path, request_id_column, label_column)
    if as_json:
        emit_json(receipt.to_dict())
    else:
        click.echo(
            f"{receipt.accepted} of {receipt.received} labels stored ({receipt.replaced} replaced earlier ones, "
            f"{receipt.unknown_request_ids} for request ids the prediction record does not hold)"
        )
        for problem in receipt.problems[:20]:
            click.echo(f"  row {problem['index']}: {problem['error']}", err=True)
        if len(receipt.problems) > 20:
            click.echo(f"  ... and {len(receipt.problems) - 20} more rejected rows", err=True)
    if receipt.problems:
        raise SystemExit(1)


COMMANDS = [feedback]
