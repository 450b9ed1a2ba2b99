"""The one place that turns errors into a one-line message and an exit code (0, 1, 2 usage, 3 bug)."""

from __future__ import annotations

import sys
from typing import Any

import click

from mlgate.exceptions import MlgateError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BUG = 3


class MlgateGroup(click.Group):
    """A click group that renders mlgate errors without stack traces."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except MlgateError as exc:
            if _wants_traceback(ctx):
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except Exception as exc:
            if _wants_traceback(ctx):
                raise
            click.echo(
                f"internal error (a bug in mlgate): {type(exc).__name__}: {exc}\n"
                "  -> run again with `mlgate --traceback ...` and report it",
                err=True,
            )
            ctx.exit(EXIT_BUG)


def _wants_traceback(ctx: click.Context) -> bool:
    obj = ctx.obj or {}
    return bool(obj.get("traceback")) or "--traceback" in sys.argv
