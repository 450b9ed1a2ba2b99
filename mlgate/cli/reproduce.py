"""CLI command `mlgate reproduce NAME VERSION`: rebuild a version from its record and compare; exit 1 if it differs."""

from __future__ import annotations

import click

from mlgate.cli.render import emit_json


@click.command()
@click.argument("name")
@click.argument("version")
@click.option(
    "--project-dir",
    type=click.Path(file_okay=False, exists=True),
    default=".",
    show_default=True,
    help="Folder the training entry point is imported from (the project root).",
)
@click.option("--seed", type=int, help="Re-run with this seed instead of the recorded one.")
@click.option(
    "--tolerance", type=click.FloatRange(min=0.0), default=0.0, show_default=True, help="Largest accepted |difference|."
)
@click.option("--output", type=click.Path(file_okay=False), help="Keep the retrieved package and report here.")
@click.option("--strict", is_flag=True, help="Also fail when a model requirement or the Python version differs.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def reproduce(
    name: str,
    version: str,
    project_dir: str,
    seed: int | None,
    tolerance: float,
    output: str | None,
    strict: bool,
    as_json: bool,
) -> None:
    """Retrieve VERSION of NAME, list environment differences, re-run its training and compare predictions."""
    from mlgate import api

    report = api.reproduce(
        name, version, project_dir=project_dir, seed=seed, tolerance=tolerance, output=output, strict=strict
    )
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo(f"{name} v{report.version}  run {report.run_id or '-'}")
        click.echo(
            f"  seed             {report.seed}"
            + (f" (re-run with {report.seed_used})" if report.seed_used != report.seed else "")
        )
        now = report.current_code_revision or "no git"
        click.echo(f"  code             {report.code_revision or 'not recorded'} (now {now})")
        click.echo(f"  entry point      {report.entry_point or 'not recorded'} {report.params or ''}".rstrip())
        for context, dataset in sorted(report.datasets.items()):
            click.echo(f"  {context + ' data':<16} {dataset['name']} sha256 {dataset['sha256']}")
        click.echo(f"  requirements     {', '.join(report.requirements) or 'none found'}")
        if report.package_dir:
            click.echo(f"  package          {report.package_dir}")
        click.echo(f"differences from the recorded environment: {len(report.differences) or 'none'}")
        for difference in report.differences:
            click.echo(f"  {difference}")
        if report.comparison:
            click.echo(report.comparison.summary())
        click.echo("REPRODUCED" if report.reproduced else f"NOT REPRODUCED: {report.reason}")
    if not report.reproduced:
        click.get_current_context().exit(1)


COMMANDS = [reproduce]
