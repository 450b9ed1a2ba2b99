"""The `mlgate` command line: a click group whose commands are thin shells over mlgate.api."""

from __future__ import annotations

import sys
from typing import Any

import click

from mlgate.cli.errors import MlgateGroup
from mlgate.heap import defer_collection


@click.group(cls=MlgateGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--traceback", is_flag=True, help="Show the full traceback of an error (for bug reports).")
@click.version_option(package_name="mlgate")
@click.pass_context
def main(ctx: click.Context, traceback: bool) -> None:
    """mlgate: a release gate, staged rollout and one-command rollback on the MLflow registry."""
    ctx.obj = {"traceback": traceback}


def _register_commands() -> None:
    """Each area's commands live in their own module (mlgate/cli/<area>.py) with a COMMANDS list."""
    from mlgate.cli import (
        approvals,
        contract,
        feedback,
        files,
        gate,
        lifecycle,
        migrate,
        monitor,
        reproduce,
        rollout,
        serving,
        team,
    )

    modules = (lifecycle, gate, approvals, rollout, contract, files, reproduce, serving, monitor, feedback, team)
    for module in (*modules, migrate):
        for command in module.COMMANDS:
            main.add_command(command)


_register_commands()


def run() -> Any:
    """Console-script entry point."""
    defer_collection()  # a command imports MLflow: see mlgate/heap.py
    return main(prog_name="mlgate")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())
