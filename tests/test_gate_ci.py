"""The gate's results as CI systems read them: `mlgate check --junit` (parsed back with a JUnit reader) and
`--summary-md` (a Markdown table appended to a step summary)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from junitparser import Error, Failure, JUnitXml

from mlgate.cli import main
from mlgate.config import Settings
from mlgate.registry import Registry
from mlgate.testing.runs import record_training_run, register_recorded, train_iris

POLICY = {"checks": {}, "stages": {"production": ["seed_recorded", "last_known_good", "transform_tests"]}}


@pytest.fixture
def version(cli_env: Settings) -> str:
    """v1 whose transform tests failed (a failing check), first of its model (a warning), seed recorded (a pass)."""
    assert cli_env.config_dir is not None
    (cli_env.config_dir / "policy.yaml").write_text(yaml.safe_dump(POLICY))
    run = record_training_run(cli_env, model=train_iris(), transform_failures=1)
    assert run.model_uri is not None
    return register_recorded(Registry.from_settings(cli_env), "m", run.model_uri)


def test_a_failing_gate_writes_a_junit_file_whose_failure_names_the_check(version: str, tmp_path: Path) -> None:
    junit = tmp_path / "reports" / "gate.xml"
    result = CliRunner().invoke(main, ["check", "m", version, "--junit", str(junit)])
    assert result.exit_code == 1, result.output

    suite = next(iter(JUnitXml.fromfile(str(junit))))
    cases = {case.name: case for case in suite}
    assert list(cases) == ["seed_recorded", "last_known_good", "transform_tests"]
    assert (suite.tests, suite.failures, suite.errors) == (3, 1, 0)

    failure = cases["transform_tests"].result
    assert len(failure) == 1 and isinstance(failure[0], Failure)
    assert failure[0].message == "4 tests, 1 failures, 0 errors, 0 skipped"  # the check's evidence
    assert "what to do: fix the feature transforms" in (failure[0].text or "")
    assert cases["seed_recorded"].is_passed
    warning = cases["last_known_good"]
    assert warning.is_passed and "WARNING: first release" in (warning.system_out or "")
    assert not any(isinstance(r, Error) for case in suite for r in case.result)


def test_the_summary_is_a_markdown_table_appended_to_the_file(version: str, tmp_path: Path) -> None:
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n")
    result = CliRunner().invoke(main, ["check", "m", version, "--summary-md", str(summary)])
    assert result.exit_code == 1

    text = summary.read_text()
    assert text.startswith("earlier step\n")  # appended, as $GITHUB_STEP_SUMMARY expects
    assert "### ❌ mlgate production gate failed: m v1" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "`" in line]
    assert [row.split("`")[1] for row in rows] == ["seed_recorded", "last_known_good", "transform_tests"]
    assert "❌ fail" in rows[2] and "⚠️ warn" in rows[1] and "✅ pass" in rows[0]
    assert all(row.count(" | ") == 4 for row in rows)  # evidence with a pipe or newline stays in its cell


def test_a_report_path_that_cannot_be_written_is_a_usage_error(version: str, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = CliRunner().invoke(main, ["check", "m", version, "--junit", str(blocker / "gate.xml")])
    assert result.exit_code == 2
    assert "cannot write" in result.output
