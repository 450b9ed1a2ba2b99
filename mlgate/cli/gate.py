"""CLI command of the release gate: `mlgate check NAME VERSION [--stage] [--json] [--junit F] [--summary-md F]`."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Sequence
from typing import Any

import click

from mlgate.cli.render import emit_json

HEADERS = ("", "check", "area", "evidence", "what to do")


def wrapped_table(rows: Sequence[Sequence[str]], width: int | None = None) -> str:
    """A table whose last two columns wrap, so long evidence stays readable in a terminal."""
    width = width or max(100, min(shutil.get_terminal_size((140, 20)).columns, 200))
    fixed = [max(len(str(r[i])) for r in [HEADERS, *rows]) for i in range(3)]
    room = max(40, width - sum(fixed) - 2 * 4)
    evidence_w, action_w = int(room * 0.6), room - int(room * 0.6)
    lines = []
    for row in [HEADERS, *rows]:
        evidence = textwrap.wrap(str(row[3]), evidence_w) or [""]
        action = textwrap.wrap(str(row[4]), action_w) or [""]
        for i in range(max(len(evidence), len(action))):
            cells = [str(row[c]) if i == 0 else "" for c in range(3)]
            cells += [evidence[i] if i < len(evidence) else "", action[i] if i < len(action) else ""]
            widths = [*fixed, evidence_w, action_w]
            lines.append("  ".join(cell.ljust(widths[c]) for c, cell in enumerate(cells)).rstrip())
        if row is HEADERS:
            lines.append("  ".join("-" * w for w in [*fixed, evidence_w, action_w]))
    return "\n".join(lines)


@click.command()
@click.argument("name")
@click.argument("version")
@click.option(
    "--stage",
    type=click.Choice(["staging", "canary", "production"]),
    default="production",
    show_default=True,
    help="The stage whose checks to run.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--junit",
    "junit_path",
    type=click.Path(dir_okay=False, writable=True),
    help="Also write the report as JUnit XML (one testcase per check), for CI test reports.",
)
@click.option(
    "--summary-md",
    "summary_path",
    type=click.Path(dir_okay=False, writable=True),
    help="Also append a Markdown summary table to this file (e.g. $GITHUB_STEP_SUMMARY).",
)
def check(name: str, version: str, stage: str, as_json: bool, junit_path: str | None, summary_path: str | None) -> None:
    """Run the release gate of STAGE on VERSION of NAME and store the report on the version.

    Exit 0 when the gate passed, 1 when it failed. --junit and --summary-md are written either way.
    """
    from mlgate import api
    from mlgate.gate.ci import junit_xml, summary_markdown

    report: Any = api.check(name, version, stage)
    if junit_path:
        _write(junit_path, junit_xml(report), append=False)
    if summary_path:
        _write(summary_path, summary_markdown(report), append=True)
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo(wrapped_table(report.rows()))
        click.echo("")
        click.echo(report.summary())
        click.echo(f"report: {report.artifacts.get('html')} (in the MLflow UI: the version's run, Artifacts)")
    if not report.passed:
        click.get_current_context().exit(1)


def _write(path: str, text: str, append: bool) -> None:
    """Write (or append) a report file, creating its folder; a path that cannot be written is a usage error."""
    from pathlib import Path

    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("a" if append else "w", encoding="utf-8") as out:
            out.write(text)
    except OSError as exc:
        raise click.UsageError(f"cannot write {path}: {exc.strerror}") from None


COMMANDS = [check]
