"""The release policy file: merging per-model overrides, hashing, and errors that name the file and key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mlgate.config import Settings
from mlgate.exceptions import PolicyError
from mlgate.gate import policy_hash
from mlgate.gate.policy import load_policy
from mlgate.testing import throwaway_settings

SHIPPED = Path(__file__).resolve().parent.parent / "mlflow_config" / "policy.yaml"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a private config folder; reading a policy needs no registry."""
    (tmp_path / "mlflow_config").mkdir()
    return throwaway_settings(tmp_path / "store", config_dir=tmp_path / "mlflow_config")


def write(settings: Settings, data: Any, name: str = "policy.yaml") -> Path:
    assert settings.config_dir is not None
    path = settings.config_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def error_of(settings: Settings, name: str = "m") -> str:
    with pytest.raises(PolicyError) as caught:
        load_policy(settings, name)
    return str(caught.value)


def test_the_shipped_policy_loads_and_gates_every_stage(settings: Settings) -> None:
    write(settings, SHIPPED.read_text())
    policy = load_policy(settings, "demo-classifier")
    assert {s: len(policy.checks_for(s)) for s in ("staging", "canary", "production")} == {
        "staging": 11,
        "canary": 19,
        "production": 19,  # the last one, approval, applies to production only (its stages parameter)
    }
    quality = next(c for c in policy.checks_for("production") if c.name == "quality_thresholds")
    assert quality.params == {"metrics": {"accuracy": {"min": 0.9}, "f1_macro": {"min": 0.85}}}


@pytest.mark.parametrize(
    ("policy", "fragments"),
    [
        ("stages:\n  staging: [seed_recorded\n", ["not valid YAML", "line 3"]),
        (
            {"stages": {"staging": ["seed_recorded", "seed_recordd"]}},
            ["stages.staging[1] (seed_recordd)", "unknown check"],
        ),
        ({"checks": {"nope": {}}, "stages": {}}, ["checks.nope: unknown check", "built-in checks: contract_bound"]),
        (
            {
                "checks": {"quality_thresholds": {"metrics": {"accuracy": {"min": "high"}}}},
                "stages": {"staging": ["quality_thresholds"]},
            },
            ["quality_thresholds.metrics.accuracy.min: must be a number, got 'high'"],
        ),
        (
            {"stages": {"staging": [{"quality_thresholds": {"metrics": {"acc": {"min": 0.9}}}}]}},
            ["stages.staging[0] (quality_thresholds).metrics.acc: unknown metric 'acc'", "f1, f1_macro", "roc_auc"],
        ),
        (
            {
                "stages": {
                    "staging": [{"quality_thresholds": {"metrics": {"roc_auc": {"min": 0.9}, "roc_auc_ovr": {}}}}]
                }
            },
            ["metrics.roc_auc_ovr: 'roc_auc_ovr' and 'roc_auc' are the same metric (roc_auc)", "keep one"],
        ),
        (
            {"stages": {"staging": [{"no_regression": {"tolerance": {"accuracy": -0.1}}}]}},
            ["no_regression).tolerance.accuracy: must be at least 0"],
        ),
        ({"stages": {"staging": ["quality_thresholds"]}}, ["parameter 'metrics' is required"]),
        ({"stages": {"staging": [{"seed_recorded": {"strict": True}}]}}, ["seed_recorded): takes no parameters"]),
        ({"stages": {"prod": ["seed_recorded"]}}, ["stages.prod: unknown stage"]),
        ({"stage": {}}, ["unknown key(s) stage"]),
        ({"stages": {"staging": ["no_such_module_xyz:check"]}}, ["cannot import module 'no_such_module_xyz'"]),
        ({"stages": {"staging": ["json:no_such_function"]}}, ["json has no function 'no_such_function'"]),
        (
            {"models": {"m": {"stages": {"staging": ["bogus"]}}}},
            ["models.m.stages.staging[0] (bogus)", "unknown check"],
        ),
    ],
    ids=[
        "bad yaml",
        "unknown check",
        "unknown check parameters",
        "bad threshold",
        "unknown metric",
        "one metric named twice",
        "negative tolerance",
        "missing threshold",
        "unexpected parameter",
        "unknown stage",
        "unknown key",
        "custom module missing",
        "custom function missing",
        "bad model override",
    ],
)
def test_policy_errors_name_the_file_and_the_key(settings: Settings, policy: Any, fragments: list[str]) -> None:
    path = write(settings, policy)
    message = error_of(settings)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message


def test_an_error_in_a_model_override_file_names_that_file(settings: Settings) -> None:
    write(settings, {"stages": {"staging": ["seed_recorded"]}})
    override = write(settings, {"stages": {"staging": [{"transform_tests": {"min_tests": "many"}}]}}, "policies/m.yaml")
    message = error_of(settings)
    assert f"{override}: stages.staging[0] (transform_tests).min_tests: must be a number" in message
    assert load_policy(settings, "other").checks_for("staging")[0].name == "seed_recorded"


def test_no_policy_file_means_no_check_can_pass(settings: Settings) -> None:
    assert "no release policy" in error_of(settings)


def test_per_model_overrides_merge_parameters_and_replace_stage_lists(settings: Settings) -> None:
    write(
        settings,
        {
            "checks": {"quality_thresholds": {"metrics": {"accuracy": {"min": 0.9}}}},
            "stages": {"staging": ["quality_thresholds", "seed_recorded"], "production": ["quality_thresholds"]},
            "models": {"strict": {"checks": {"quality_thresholds": {"metrics": {"accuracy": {"min": 0.99}}}}}},
        },
    )
    write(settings, {"stages": {"staging": ["card_complete"]}}, "policies/lean.yaml")
    default, strict, lean = (load_policy(settings, n) for n in ("m", "strict", "lean"))
    assert default.checks_for("production")[0].params["metrics"]["accuracy"] == {"min": 0.9}
    assert strict.checks_for("production")[0].params["metrics"]["accuracy"] == {"min": 0.99}
    assert [c.name for c in lean.checks_for("staging")] == ["card_complete"]
    assert [c.name for c in lean.checks_for("production")] == ["quality_thresholds"]
    assert len({default.sha256, lean.sha256}) == 2 and default.sha256 == strict.sha256
    assert policy_hash(settings, "lean") == lean.sha256 and policy_hash(settings, "m") == default.sha256


def test_the_metrics_a_training_run_logs_and_their_aliases_are_accepted_by_their_one_name(settings: Settings) -> None:
    write(
        settings,
        {
            "checks": {
                "quality_thresholds": {"metrics": {"f1": {"min": 0.8}, "roc_auc_ovr": {"min": 0.9}}},
                "no_regression": {"tolerance": {"roc_auc": 0.01, "f1_macro": 0.02, "rmse": 0.5}},
            },
            "stages": {"production": ["quality_thresholds", "no_regression"]},
        },
    )
    quality, regression = load_policy(settings, "m").checks_for("production")
    assert quality.params == {"metrics": {"f1": {"min": 0.8}, "roc_auc": {"min": 0.9}}}
    assert regression.params == {"tolerance": {"roc_auc": 0.01, "f1_macro": 0.02, "rmse": 0.5}}
