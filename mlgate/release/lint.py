"""Check mlgate's own YAML files without a registry: model cards, data contracts, release and rollout policies.

What a pre-commit hook or a CI step runs before anything reaches the registry: each file is read
by the same parser mlgate uses when it acts on it, so a file that passes here is one mlgate accepts.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlgate.config import Settings
from mlgate.config.files import read_yaml
from mlgate.contracts import compatible, load_contract, parse_contract_text
from mlgate.exceptions import CardError, MlgateError, UsageError
from mlgate.gate.policy import POLICY_FILE, load_policy
from mlgate.registry.card import parse_card
from mlgate.release.rollout.policy import ROLLOUT_FILE, parse_rollout_policy

KINDS = ("card", "contract", "policy")


@dataclass(frozen=True)
class FileCheck:
    """One file's verdict: the problems found (none: it is accepted), and what it is."""

    path: str
    kind: str
    problems: list[str] = field(default_factory=list)
    summary: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "ok": self.ok, "problems": self.problems, "summary": self.summary}


def check_files(paths: list[str | Path], kind: str) -> list[FileCheck]:
    """Check each file as a ``kind`` (card, contract, or policy: policy.yaml / rollout.yaml by file name)."""
    if kind not in KINDS:
        raise UsageError(f"unknown kind {kind!r}", f"use one of: {', '.join(KINDS)}")
    return [_check(Path(p), kind) for p in paths]


def _check(path: Path, kind: str) -> FileCheck:
    try:
        summary = {"card": _card, "contract": _contract, "policy": _policy}[kind](path)
    except MlgateError as exc:
        return FileCheck(str(path), kind, [str(exc)])
    return FileCheck(str(path), kind, [], summary)


def _card(path: Path) -> str:
    data = read_yaml(path, error=CardError)
    if "training_data" not in data:  # mlgate.training.track fills it in from the run it trains on
        card = parse_card({**data, "training_data": {"name": "(from the run)", "sha256": "0" * 64}}, str(path))
        return f"model card of {card.owner}: training data filled in by the training run"
    card = parse_card(data, str(path))
    return f"model card of {card.owner}: training data {card.training_data_name}"


def _contract(path: Path) -> str:
    contract = load_contract(path)
    return f"contract {contract.name}@{contract.version}: {len(contract.columns)} columns"


def _policy(path: Path) -> str:
    if path.name == ROLLOUT_FILE:
        data = read_yaml(path)
        models = data.get("models") or {}
        for model in [None, *(models if isinstance(models, dict) else {})]:
            parse_rollout_policy(data, str(path), model)
        return f"rollout policy: defaults and {len(models)} model override(s)"
    if path.name != POLICY_FILE:
        raise UsageError(
            f"{path}: a policy file is named {POLICY_FILE} or {ROLLOUT_FILE}", "rename it, or pick the kind"
        )
    data = read_yaml(path)
    settings = Settings(tracking_uri="", registry_uri="", config_dir=path.parent)
    models = data.get("models") or {}
    names = ["*", *(models if isinstance(models, dict) else {})]
    stages = {stage for name in names for stage in load_policy(settings, str(name)).stages}
    return f"release policy: stages {', '.join(sorted(stages)) or 'none'}; {len(names) - 1} model override(s)"


def check_compat_against(paths: list[str | Path], base_ref: str, repo: str | Path = ".") -> list[FileCheck]:
    """Each contract compared with its version at git ``base_ref``: can it serve the inputs the old one accepted?

    A contract that did not exist at ``base_ref`` is new, and passes.
    """
    results = []
    for raw in paths:
        path = Path(raw)
        try:
            new = load_contract(path)
            old_text = _git_show(base_ref, path, Path(repo))
            if old_text is None:
                results.append(FileCheck(str(path), "contract", [], f"new contract {new.name}@{new.version}"))
                continue
            old = parse_contract_text(old_text, f"{base_ref}:{path}")
            verdict = compatible(old, new)
        except MlgateError as exc:
            results.append(FileCheck(str(path), "contract", [str(exc)]))
            continue
        problems = [] if verdict.ok else list(verdict.reasons) or ["not compatible"]
        results.append(
            FileCheck(str(path), "contract", problems, f"{old.name}@{old.version} -> {new.name}@{new.version}")
        )
    return results


def _git_show(ref: str, path: Path, repo: Path) -> str | None:
    """The file's text at ``ref`` (None when it did not exist there)."""
    root = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=False
    )
    if root.returncode != 0:
        raise UsageError(f"{repo} is not in a git repository", "run the compat check inside the repository")
    relative = path.resolve().relative_to(Path(root.stdout.strip()).resolve())
    shown = subprocess.run(
        ["git", "-C", str(repo), "show", f"{ref}:{relative.as_posix()}"], capture_output=True, text=True, check=False
    )
    if shown.returncode == 0:
        return shown.stdout
    known = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], capture_output=True
    )
    if known.returncode != 0:
        raise UsageError(f"unknown git ref {ref!r}", "fetch it first (e.g. git fetch origin main), or pass another")
    return None
