"""The release policy: which checks each stage requires and their parameters, read from YAML.

    mlflow_config/policy.yaml            the team's policy
    mlflow_config/policies/<NAME>.yaml   optional per-model override (same shape as a `models:` entry)

Shape::

    checks:                    # parameters of checks, shared by every stage
      quality_thresholds: {metrics: {accuracy: {min: 0.9}}}
    stages:                    # the checks each stage requires, in order
      staging: [contract_bound, requirements_pinned, ...]
      production:
        - no_regression: {tolerance: {accuracy: 0.01}}   # parameters for this stage only
        - my_package.checks:fairness                      # a custom check, module:function
    models:                    # per-model overrides: checks are merged, stages replaced
      NAME: {checks: {...}, stages: {...}}
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.config.files import read_yaml
from mlgate.exceptions import PolicyError
from mlgate.gate.builtin import BUILTIN

if TYPE_CHECKING:
    from mlgate.config import Settings

POLICY_FILE = "policy.yaml"
OVERRIDE_DIR = "policies"
STAGES = ("staging", "canary", "production")
_TOP_KEYS = {"version", "checks", "stages", "models"}
_MODEL_KEYS = {"checks", "stages"}


@dataclass(frozen=True)
class CheckEntry:
    """One check a stage requires: its name, the function that runs it, its parameters."""

    name: str
    area: str
    fn: Callable[..., Any]
    params: dict[str, Any]
    custom: bool = False


@dataclass(frozen=True)
class Policy:
    """The checks of every stage for one model, and the hash of the files they came from."""

    sha256: str
    sources: list[str]
    stages: dict[str, list[CheckEntry]] = field(default_factory=dict)

    def checks_for(self, stage: str) -> list[CheckEntry]:
        """The checks ``stage`` requires (an empty list when the policy names none)."""
        return list(self.stages.get(stage, []))


def policy_files(settings: Settings, name: str | None = None) -> list[Path]:
    """The policy file, then the model's override file, that exist."""
    files: list[Path] = []
    main = settings.config_file(POLICY_FILE)
    if main is not None:
        files.append(main)
    if name and settings.config_dir is not None:
        override = settings.config_dir / OVERRIDE_DIR / f"{name}.yaml"
        if override.is_file():
            files.append(override)
    return files


def hash_files(files: list[Path]) -> str:
    """sha256 over the policy files in force (names and bytes); "no-policy" when there are none."""
    if not files:
        return "no-policy"
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PolicyError(f"{where} must be a mapping, got {type(value).__name__}", "fix the policy file")
    return value


def _merge_layer(path: Path, layer: dict[str, Any], where: str, shared: dict[str, Any], stages: dict[str, Any]) -> None:
    for check_name, params in _mapping(layer.get("checks"), f"{path}: {where}checks").items():
        if ":" not in str(check_name) and check_name not in BUILTIN:
            raise PolicyError(f"{path}: {where}checks.{check_name}: unknown check", _known_checks_hint())
        if params is not None and not isinstance(params, dict):
            raise PolicyError(f"{path}: {where}checks.{check_name} must be a mapping of parameters", "fix the value")
        shared[str(check_name)] = {**shared.get(str(check_name), {}), **(params or {})}
        if ":" not in str(check_name):  # a bad value is reported where it is written
            BUILTIN[str(check_name)].validate(params or {}, f"{path}: {where}checks.{check_name}", partial=True)
    for stage, entries in _mapping(layer.get("stages"), f"{path}: {where}stages").items():
        if stage not in STAGES:
            raise PolicyError(f"{path}: {where}stages.{stage}: unknown stage", f"stages are: {', '.join(STAGES)}")
        if not isinstance(entries, list):
            raise PolicyError(f"{path}: {where}stages.{stage} must be a list of checks", "fix the policy file")
        stages[stage] = (path, f"{where}stages.{stage}", entries)


def load_policy(settings: Settings, name: str) -> Policy:
    """Read, merge and check the policy for model ``name``; every error names the file and key."""
    files = policy_files(settings, name)
    main = settings.config_file(POLICY_FILE)
    if main is None:
        where = settings.config_dir or "the config folder"
        raise PolicyError(
            f"no release policy: {where}/{POLICY_FILE} does not exist, so no check can pass",
            "create mlflow_config/policy.yaml (see README: The release gate)",
        )
    shared: dict[str, Any] = {}
    stages: dict[str, Any] = {}
    for path in files:
        data = read_yaml(path, error=PolicyError)
        is_override = path != main
        allowed = _MODEL_KEYS if is_override else _TOP_KEYS
        unknown = sorted(set(map(str, data)) - allowed)
        if unknown:
            raise PolicyError(
                f"{path}: unknown key(s) {', '.join(unknown)}", f"known keys: {', '.join(sorted(allowed))}"
            )
        _merge_layer(path, data, "", shared, stages)
        if not is_override:
            models = _mapping(data.get("models"), f"{path}: models")
            model_layer = models.get(name)
            if model_layer is not None:
                model_layer = _mapping(model_layer, f"{path}: models.{name}")
                bad = sorted(set(map(str, model_layer)) - _MODEL_KEYS)
                if bad:
                    raise PolicyError(
                        f"{path}: models.{name}: unknown key(s) {', '.join(bad)}", "use checks and stages"
                    )
                _merge_layer(path, model_layer, f"models.{name}.", shared, stages)

    resolved: dict[str, list[CheckEntry]] = {}
    for stage, (path, where, entries) in stages.items():
        resolved[stage] = [_entry(path, f"{where}[{i}]", item, shared) for i, item in enumerate(entries)]
    return Policy(sha256=hash_files(files), sources=[str(p) for p in files], stages=resolved)


def _known_checks_hint() -> str:
    return f"built-in checks: {', '.join(BUILTIN)}; or name a function as module:function"


def _entry(path: Path, where: str, item: Any, shared: dict[str, Any]) -> CheckEntry:
    own: dict[str, Any]
    if isinstance(item, str):
        check_name, own = item, {}
    elif isinstance(item, dict) and len(item) == 1:
        check_name, own = next(iter(item.items()))
        if own is not None and not isinstance(own, dict):
            raise PolicyError(f"{path}: {where}.{check_name} must be a mapping of parameters", "fix the value")
        own = own or {}
    else:
        raise PolicyError(f"{path}: {where}: expected a check name or {{name: {{parameters}}}}, got {item!r}", "fix it")
    check_name = str(check_name)
    params = {**shared.get(check_name, {}), **own}
    key = f"{path}: {where} ({check_name})"
    if ":" in check_name:
        return CheckEntry(check_name, "custom", _import_check(key, check_name), params, custom=True)
    spec = BUILTIN.get(check_name)
    if spec is None:
        raise PolicyError(f"{key}: unknown check", _known_checks_hint())
    return CheckEntry(check_name, spec.area, spec.fn, spec.validate(params, key))


def _import_check(key: str, target: str) -> Callable[..., Any]:
    module_name, _, function_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any import failure is the policy's to report
        raise PolicyError(
            f"{key}: cannot import module {module_name!r}: {exc}", "check the name and PYTHONPATH"
        ) from None
    fn = getattr(module, function_name, None)
    if not callable(fn):
        raise PolicyError(f"{key}: {module_name} has no function {function_name!r}", "check the name")
    return fn  # type: ignore[no-any-return]
