"""CLI commands for data contracts: `mlgate contract validate CONTRACT DATA` and `mlgate contract compat OLD NEW`."""

from __future__ import annotations

import click

from mlgate.cli.render import emit_json, table


@click.group()
def contract() -> None:
    """Versioned data contracts: validate data files, compare contract versions."""


@contract.command()
@click.argument("contract_file", metavar="CONTRACT.yaml", type=click.Path(dir_okay=False))
@click.argument("data_file", metavar="DATA.(csv|parquet)", type=click.Path(dir_okay=False))
@click.option("--fast", is_flag=True, help="Use the inference-time validator instead of Great Expectations.")
@click.option("--strict", is_flag=True, help="Exit 1 on any failed expectation, even one a policy handled.")
@click.option("--output", type=click.Path(dir_okay=False), help="Write the data after policies (.csv or .parquet).")
@click.option("--rejected", type=click.Path(dir_okay=False), help="Write the rejected rows, with why (quarantine).")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def validate(
    contract_file: str,
    data_file: str,
    fast: bool,
    strict: bool,
    output: str | None,
    rejected: str | None,
    as_json: bool,
) -> None:
    """Validate DATA against CONTRACT; exit 1 when the batch is rejected (or, with --strict, on any failure)."""
    from mlgate import contracts

    bound = contracts.load_contract(contract_file)
    df = contracts.read_data(data_file, bound)
    report = contracts.fast_validate(bound, df) if fast else contracts.validate(bound, df)
    if output and report.success:
        contracts.write_data(report.frame, output)
    if rejected and report.rejected_rows:
        contracts.write_data(report.rejected, rejected)
    failed = not report.success or (strict and not report.clean)
    if as_json:
        emit_json(report.to_dict())
    else:
        _render(report, data_file)
    if failed:
        click.get_current_context().exit(1)


@contract.command()
@click.argument("old_file", metavar="OLD.yaml", type=click.Path(dir_okay=False))
@click.argument("new_file", metavar="NEW.yaml", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def compat(old_file: str, new_file: str, as_json: bool) -> None:
    """Check that NEW can serve the inputs OLD accepted; exit 1 with the reasons when it cannot."""
    from mlgate import contracts

    old, new = contracts.load_contract(old_file), contracts.load_contract(new_file)
    result = contracts.compatible(old, new)
    if as_json:
        emit_json(result.to_dict())
    else:
        verdict = "COMPATIBLE" if result.ok else "INCOMPATIBLE"
        click.echo(f"{verdict}: {new.name}@{new.version} against {old.name}@{old.version}")
        for reason in result.reasons:
            click.echo(f"  - {reason}")
        for note in result.notes:
            click.echo(f"  note: {note}")
    if not result.ok:
        click.get_current_context().exit(1)


def _render(report: object, data_file: str) -> None:
    from mlgate.contracts.report import ValidationReport

    assert isinstance(report, ValidationReport)
    c = report.contract
    verdict = "PASSED" if report.clean else "ACCEPTED with policies applied" if report.success else "FAILED"
    click.echo(f"{verdict}: {data_file} against {c['name']}@{c['version']} ({report.engine})")
    click.echo(
        f"  rows in {report.rows_in}, out {report.rows_out}; expectations run {report.expectations_run}, "
        f"failed {len(report.failures)}"
    )
    click.echo(
        f"  rejected rows {report.rejected_rows}, imputed values {report.imputed}, flagged rows {report.flagged}"
        + ("; BATCH REJECTED" if report.batch_rejected else "")
    )
    if report.failures:
        rows = [
            (f.column or "(batch)", f.expectation, f.bad_rows, f.policy, ", ".join(map(repr, f.sample[:3])) or "-")
            for f in report.failures
        ]
        click.echo(table(["column", "expectation", "bad rows", "policy", "sample"], rows))
    for error in report.errors:
        click.echo(f"  error: {error}")
    if report.expectations_run == 0:
        click.echo("  no expectation ran: this is never a success")


COMMANDS = [contract]
