"""CLI command that checks mlgate's YAML files offline: `mlgate lint --kind card|contract|policy FILE...`."""

from __future__ import annotations

import click

from mlgate.cli.render import emit_json


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--kind",
    type=click.Choice(["card", "contract", "policy"]),
    required=True,
    help="What the files are: model cards, data contracts, or policies (policy.yaml / rollout.yaml).",
)
@click.option(
    "--against",
    metavar="GIT_REF",
    help="Contracts only: each must also accept every input its version at this git ref accepted.",
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def lint(files: tuple[str, ...], kind: str, against: str | None, as_json: bool) -> None:
    """Check FILES as mlgate will read them, without a registry (for pre-commit hooks and CI).

    Exit 0 when every file is accepted, 1 when one is not (each problem is listed).
    """
    from mlgate import api

    checks = api.lint(list(files), kind, against=against)
    if as_json:
        emit_json([c.to_dict() for c in checks])
    else:
        for c in checks:
            if c.ok:
                click.echo(f"ok    {c.path}: {c.summary}")
            else:
                click.echo(f"FAIL  {c.path}")
                for problem in c.problems:
                    click.echo("      " + problem.replace("\n", "\n      "))
    if not all(c.ok for c in checks):
        click.get_current_context().exit(1)


COMMANDS = [lint]
