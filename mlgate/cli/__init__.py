"""The `mlgate` command line: a click group whose commands are thin shells over mlgate.api."""

from __future__ import annotations

import sys
from typing import Any

import click

from mlgate.cli.errors import MlgateGroup


@click.group(cls=MlgateGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--traceback", is_flag=True, help="Show the full traceback of an error (for bug reports).")
@click.version_option(package_name="mlgate")
@click.pass_context
def main(ctx: click.Context, traceback: bool) -> None:
    """mlgate: a release gate, staged rollout and one-command rollback on the MLflow registry."""
    ctx.obj = {"traceback": traceback}


def _register_commands() -> None:
    from mlgate.cli import lifecycle, rollout

    for command in [*lifecycle.COMMANDS, *rollout.COMMANDS]:
        main.add_command(command)
    from mlgate.cli import contract

    for command in contract.COMMANDS:
        main.add_command(command)
    from mlgate.cli import monitor

    for command in monitor.COMMANDS:
        main.add_command(command)
    from mlgate.cli import gate

    for command in gate.COMMANDS:
        main.add_command(command)
    from mlgate.cli import reproduce

    for command in reproduce.COMMANDS:
        main.add_command(command)
    from mlgate.cli import serving

    for command in serving.COMMANDS:
        main.add_command(command)
    from mlgate.cli import team

    for command in team.COMMANDS:
        main.add_command(command)


_register_commands()


def run() -> Any:
    """Console-script entry point."""
    return main(prog_name="mlgate")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())
