"""The CLI: every lifecycle command through CliRunner, exit codes through a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from mlgate.cli import main
from mlgate.config import Settings

MLGATE = str(Path(sys.executable).parent / "mlgate")


def run(*args: str) -> click.testing.Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_the_release_story_through_the_cli(cli_env: Settings, model_uri: str, card_path: Path) -> None:
    for expected in ("1", "2"):
        result = run("register", "m", "--model-uri", model_uri, "--card", str(card_path), "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["version"] == expected

    refused = run("promote", "m", "1", "--to", "production")
    assert refused.exit_code == 1
    assert "gate" in refused.output and "Traceback" not in refused.output

    assert run("promote", "m", "1", "--to", "production", "--force", "--reason", "first").exit_code == 0
    promoted = run("promote", "m", "2", "--to", "production", "--force", "--reason", "second")
    assert promoted.exit_code == 0 and "last known good: v1" in promoted.output

    dry = run("rollback", "m", "--dry-run")
    assert dry.exit_code == 0 and "v2 -> v1" in dry.output and "nothing changed" in dry.output

    rolled = run("rollback", "m", "--reason", "drift")
    assert rolled.exit_code == 0 and "smoke test passed" in rolled.output

    status = json.loads(run("status", "m", "--json").stdout)
    assert status["aliases"]["production"] == "1"
    text_status = run("status", "m").output
    assert "rolled-back" in text_status and "production" in text_status

    history = json.loads(run("history", "m", "--json").stdout)
    assert [e["action"] for e in history[:3]] == ["rollback", "promote-production", "promote-production"]
    assert history[0]["reason"] == "drift" and history[0]["actor"] == "tester"
    assert "rollback" in run("history", "m").output

    smoke = run("smoke", "m")
    assert smoke.exit_code == 0 and "passed" in smoke.output


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["status", "nope"], "no registered model named 'nope'"),
        (["promote", "nope", "1", "--to", "production", "--force", "--reason", "x"], "no registered model"),
        (["rollback", "nope"], "no registered model"),
    ],
)
def test_known_errors_are_one_line_and_exit_1(cli_env: Settings, args: list[str], fragment: str) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert fragment in result.output
    assert "Traceback" not in result.output


def test_bad_card_lists_every_problem(cli_env: Settings, model_uri: str, tmp_path: Path) -> None:
    card = tmp_path / "card.yaml"
    card.write_text("owner: me\ntraining_data: {name: x}\n")
    result = CliRunner().invoke(main, ["register", "m", "--model-uri", model_uri, "--card", str(card)])
    assert result.exit_code == 1
    for fragment in (str(card), "intended_use", "description", "training_data.sha256"):
        assert fragment in result.output


def test_a_bug_exits_3_and_traceback_reraises() -> None:
    @click.command("explode")
    def explode() -> None:
        raise ZeroDivisionError("boom")

    main.add_command(explode)
    try:
        result = CliRunner().invoke(main, ["explode"])
        assert result.exit_code == 3
        assert "internal error" in result.output and "--traceback" in result.output
        raised = CliRunner().invoke(main, ["--traceback", "explode"])
        assert isinstance(raised.exception, ZeroDivisionError)
    finally:
        main.commands.pop("explode")


def _subprocess_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLGATE_"))}
    env.update(MLGATE_CONFIG_DIR=str(settings.config_dir), MLFLOW_DISABLE_TELEMETRY="true")
    return env


def test_exit_codes_of_the_real_command(cli_env: Settings, tmp_path_factory: pytest.TempPathFactory) -> None:
    env = _subprocess_env(cli_env)
    usage = subprocess.run([MLGATE, "promote", "m"], env=env, capture_output=True, text=True)
    assert usage.returncode == 2 and "Usage" in usage.stderr
    unknown = subprocess.run([MLGATE, "status", "nope"], env=env, capture_output=True, text=True)
    assert unknown.returncode == 1 and "no registered model" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    elsewhere = tmp_path_factory.mktemp("no-config-here")
    no_config = subprocess.run(
        [MLGATE, "status", "m"], env={**env, "MLGATE_CONFIG_DIR": ""}, cwd=elsewhere, capture_output=True, text=True
    )
    assert no_config.returncode == 1 and "no MLflow tracking URI" in no_config.stderr
    assert not (elsewhere / "mlflow.db").exists()


def test_unreachable_server_is_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLGATE_"))}
    env.update(MLFLOW_TRACKING_URI="http://127.0.0.1:9", MLFLOW_HTTP_REQUEST_MAX_RETRIES="0")
    proc = subprocess.run([MLGATE, "status", "m"], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 1
    assert "cannot reach the MLflow tracking server at http://127.0.0.1:9" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_help_never_imports_mlflow() -> None:
    names = ["--help"] + [f"{name} --help" for name in main.commands]
    code = (
        "import sys\nfrom click.testing import CliRunner\nfrom mlgate.cli import main\n"
        f"for args in {names!r}:\n"
        "    r = CliRunner().invoke(main, args.split())\n"
        "    assert r.exit_code == 0, (args, r.output)\n"
        "heavy = [m for m in ('mlflow', 'pandas', 'great_expectations', 'fastapi', 'sklearn') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
