"""What CI and pre-commit run: the GitHub Action's steps as a script, and the hooks through `pre-commit try-repo`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlgate.config import Settings
from mlgate.registry import Registry
from mlgate.testing import write_card
from mlgate.testing.runs import record_training_run, register_recorded, train_iris

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CONTRACT = """name: features
version: "1.0.0"
defaults: {on_invalid: reject_row}
columns:
  - {name: amount, type: float, nullable: false, range: {min: 0, max: 1000}, on_null: {impute: 500}}
  - {name: country, type: str, nullable: true}
backfill: {strategy: forward_only, description: new rows only}
"""


def _gated_version(settings: Settings, failing: bool) -> str:
    assert settings.config_dir is not None
    stages = ["seed_recorded", "transform_tests"] if failing else ["seed_recorded"]
    (settings.config_dir / "policy.yaml").write_text(yaml.safe_dump({"stages": {"production": stages}}))
    run = record_training_run(settings, model=train_iris(), transform_failures=1)
    assert run.model_uri is not None
    return register_recorded(Registry.from_settings(settings), "m", run.model_uri)


def _run_action(inputs: dict[str, str], workdir: Path) -> tuple[dict[str, str], list[str], int]:
    """Run action.yml's shell steps in order, as a runner would (``uses:`` steps left out); return
    (outputs of the gate step, names of the steps run, exit code of the last step run)."""
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    values = {name: spec.get("default", "") for name, spec in action["inputs"].items()} | inputs
    outputs: dict[str, dict[str, str]] = {}
    ran: list[str] = []
    code = 0

    def expand(text: str) -> str:
        def one(match: re.Match[str]) -> str:
            expr = match.group(1).strip()
            if expr.startswith("inputs."):
                return values[expr.removeprefix("inputs.")]
            step, _, key = expr.removeprefix("steps.").partition(".outputs.")
            return outputs.get(step, {}).get(key, "")

        return re.sub(r"\$\{\{(.*?)\}\}", one, text)

    for step in action["runs"]["steps"]:
        if "run" not in step:
            continue
        condition = step.get("if")
        if condition and "!= 'passed'" in condition and outputs["gate"]["verdict"] == "passed":
            continue
        out_file = workdir / f"output-{len(ran)}"
        out_file.write_text("")
        env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "GITHUB_OUTPUT": str(out_file)}
        env |= {key: expand(str(value)) for key, value in step.get("env", {}).items()}
        done = subprocess.run(["bash", "-e", "-c", expand(step["run"])], cwd=workdir, env=env, capture_output=True)
        ran.append(step["name"])
        code = done.returncode
        outputs[step.get("id", "")] = dict(line.split("=", 1) for line in out_file.read_text().splitlines() if line)
        if code != 0:
            break
    return outputs.get("gate", {}), ran, code


@pytest.mark.parametrize("failing", [False, True], ids=["passing gate", "failing gate"])
def test_the_action_reports_every_check_and_fails_the_job_only_on_a_failed_gate(
    cli_env: Settings, tmp_path: Path, failing: bool
) -> None:
    version = _gated_version(cli_env, failing)
    workdir = tmp_path / "workspace"
    workdir.mkdir()
    inputs = {"model": "m", "version": version, "tracking-uri": cli_env.tracking_uri, "mlgate-spec": ""}

    gate, ran, code = _run_action(inputs, workdir)

    assert gate["verdict"] == ("failed" if failing else "passed")
    report = workdir / gate["report"]
    assert report.is_file() and '"result":' in report.read_text()
    assert (workdir / "mlgate-reports" / "gate.xml").read_text().count("<testcase") == (2 if failing else 1)
    assert "mlgate production gate" in (workdir / "mlgate-reports" / "summary.md").read_text()
    assert (code, ran[-1]) == ((1, "Fail the job unless the gate passed") if failing else (0, "Run the release gate"))


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def user_repo(tmp_path: Path) -> Path:
    """A user's repository with a card, a contract and a policy committed on main."""
    repo = tmp_path / "project"
    (repo / "cards").mkdir(parents=True)
    (repo / "contracts").mkdir()
    write_card(repo / "cards" / "churn.yaml")
    (repo / "contracts" / "features.yaml").write_text(CONTRACT)
    (repo / "mlflow_config").mkdir()
    (repo / "mlflow_config" / "policy.yaml").write_text(yaml.safe_dump({"stages": {"production": ["seed_recorded"]}}))
    _git(repo.parent, "init", "-q", "-b", "main", str(repo))
    _git(repo, "-c", "user.email=t@example.com", "-c", "user.name=t", "add", ".")
    _git(repo, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-q", "-m", "base")
    return repo


def _try_hook(repo: Path, hook: str, *files: str) -> subprocess.CompletedProcess[str]:
    """`pre-commit try-repo` of this repository's hooks on ``files`` of the user's repository."""
    hooks_repo = repo.parent / "hooks"
    if not hooks_repo.exists():  # try-repo needs a git repository holding .pre-commit-hooks.yaml
        hooks_repo.mkdir()
        shutil.copy(ROOT / ".pre-commit-hooks.yaml", hooks_repo)
        _git(repo.parent, "init", "-q", str(hooks_repo))
        _git(hooks_repo, "add", ".")
        _git(hooks_repo, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-q", "-m", "hooks")
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "PRE_COMMIT_HOME": str(repo.parent / "pc-home")}
    return subprocess.run(
        [str(BIN / "pre-commit"), "try-repo", str(hooks_repo), hook, "--files", *files],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_the_hooks_accept_good_files_and_name_what_is_wrong(user_repo: Path) -> None:
    for hook, path in (
        ("mlgate-cards", "cards/churn.yaml"),
        ("mlgate-contracts", "contracts/features.yaml"),
        ("mlgate-policies", "mlflow_config/policy.yaml"),
    ):
        done = _try_hook(user_repo, hook, path)
        assert done.returncode == 0, done.stdout + done.stderr

    card: dict[str, Any] = yaml.safe_load((user_repo / "cards" / "churn.yaml").read_text())
    del card["intended_use"]
    (user_repo / "cards" / "churn.yaml").write_text(yaml.safe_dump(card))
    (user_repo / "mlflow_config" / "policy.yaml").write_text(yaml.safe_dump({"stages": {"production": ["sed"]}}))
    bad_card = _try_hook(user_repo, "mlgate-cards", "cards/churn.yaml")
    bad_policy = _try_hook(user_repo, "mlgate-policies", "mlflow_config/policy.yaml")
    assert bad_card.returncode == 1 and "intended_use: missing" in bad_card.stdout
    assert bad_policy.returncode == 1 and "unknown check" in bad_policy.stdout


def test_the_compat_hook_refuses_a_contract_that_breaks_inputs_the_base_branch_accepted(user_repo: Path) -> None:
    _git(user_repo, "update-ref", "refs/remotes/origin/main", "HEAD")
    contract = user_repo / "contracts" / "features.yaml"
    contract.write_text(CONTRACT.replace("min: 0,", "min: 10,"))  # rejects amounts 0-10 that v1 accepted

    done = _try_hook(user_repo, "mlgate-contract-compat", "contracts/features.yaml")

    assert done.returncode == 1
    assert "min raised from 0" in done.stdout
    looser = CONTRACT.replace("max: 1000", "max: 5000").replace('"1.0.0"', '"1.1.0"')
    contract.write_text(looser)  # accepts more than before, under a new version number: fine
    assert _try_hook(user_repo, "mlgate-contract-compat", "contracts/features.yaml").returncode == 0
