"""The release gate on real registered versions in a real sqlite MLflow: every check passes and fails."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from mlgate import api
from mlgate.cli import main
from mlgate.config import Settings
from mlgate.exceptions import GateFailed
from mlgate.gate import gate_record, policy_hash
from mlgate.gate.builtin import BUILTIN
from mlgate.registry import Registry, keys, mlflow_uris
from mlgate.testing import QUIET_ENV, card_dict, throwaway_settings
from mlgate.testing.runs import RecordedRun, record_training_run, register_recorded, train_iris

CONTRACT = Path(__file__).parent / "data" / "iris_contract.yaml"
PARAMS: dict[str, Any] = {
    "quality_thresholds": {"metrics": {"accuracy": {"min": 0.9}, "f1_macro": {"min": 0.85}}},
    "no_regression": {"tolerance": {"accuracy": 0.01}},
}
RECORD_CHECKS = [c for c in BUILTIN if c != "approval"]  # what the version's records prove; sign-off: test_approvals
OWNERS = {
    "targets": {"hook": {"kind": "json", "url": "http://127.0.0.1:9/alerts"}},
    "owners": {"ml-platform@example.com": {"business_hours": {"person": "alice@example.com", "targets": ["hook"]}}},
}


@dataclass
class World:
    """One store shared by the module: complete training runs, and runs each missing one record."""

    settings: Settings
    good: RecordedRun
    worse: RecordedRun
    runs: dict[str, str]
    unpinned: tuple[str, str]  # (model location, run id): a copy with an unpinned requirement
    broken: tuple[str, str]  # a copy whose model file is gone
    scoreless: RecordedRun  # a classifier without class probabilities (no predict_proba)


def _copy_model(settings: Settings, model_uri: str, folder: Path, edit: Callable[[Path], None]) -> tuple[str, str]:
    """Log an edited copy of a model's files into a complete training run; return (its location, the run)."""
    import mlflow

    with mlflow_uris(settings):
        local = Path(mlflow.artifacts.download_artifacts(model_uri, dst_path=str(folder)))
    edit(local)
    run = record_training_run(settings)
    registry = Registry.from_settings(settings)
    registry.client.log_artifacts(run.run_id, str(local), "model_copy")
    return f"{registry.client.get_run(run.run_id).info.artifact_uri}/model_copy", run.run_id


def _swap_evaluation_set(settings: Settings, folder: Path) -> str:
    """A complete run whose stored evaluation set was replaced after its dataset was logged."""
    from mlgate.testing.runs import iris_frames

    run = record_training_run(settings)
    _, _, evaluation = iris_frames()
    evaluation.loc[0, "sepal_length"] = 9.9
    folder.mkdir()
    evaluation.to_parquet(folder / Path(keys.EVALUATION_ARTIFACT).name, index=False)
    Registry.from_settings(settings).client.log_artifact(run.run_id, str(folder / "evaluation.parquet"), "mlgate")
    return run.run_id


def _unpin(path: Path) -> None:
    req = path / "requirements.txt"
    req.write_text(
        "\n".join("scikit-learn>=1.5" if ln.startswith("scikit-learn") else ln for ln in req.read_text().splitlines())
    )


def _ridge_classifier() -> Any:
    from sklearn.linear_model import RidgeClassifier

    from mlgate.testing.runs import iris_frames

    x, y, _ = iris_frames()
    return RidgeClassifier().fit(x, y)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    os.environ.update(QUIET_ENV)
    folder = tmp_path_factory.mktemp("gate-store")
    settings = throwaway_settings(folder)
    Registry.from_settings(settings)
    good = record_training_run(settings, model=train_iris())
    worse = record_training_run(settings, model=train_iris(c=0.01))
    assert good.model_uri and worse.model_uri
    runs = {
        f"no {record}": record_training_run(settings, omit=[record]).run_id
        for record in ("seed", "code_revision", "evaluation_digest", "transform_tests", "reference_profile")
    }
    runs["no contract_validation"] = record_training_run(settings, omit=["contract_validation"]).run_id
    runs["validation failed"] = record_training_run(settings, contract_validation="failed").run_id
    runs["transform failures"] = record_training_run(settings, transform_failures=2).run_id
    runs["complete"] = record_training_run(settings).run_id
    runs["evaluation swapped"] = _swap_evaluation_set(settings, folder / "swapped")
    runs["dirty"] = record_training_run(settings, code_revision="4f2a9c1-dirty").run_id
    unpinned = _copy_model(settings, good.model_uri, folder / "unpinned", _unpin)
    broken = _copy_model(settings, good.model_uri, folder / "broken", lambda p: (p / "model.pkl").unlink())
    scoreless = record_training_run(settings, model=_ridge_classifier())
    return World(settings, good, worse, runs, unpinned, broken, scoreless)


@pytest.fixture
def reg(world: World, tmp_path: Path) -> Registry:
    """A registry on the module's store whose config folder (policy, owners) belongs to the test."""
    config = tmp_path / "mlflow_config"
    config.mkdir()
    (config / "owners.yaml").write_text(yaml.safe_dump(OWNERS))
    (config / "mlgate.yaml").write_text(
        yaml.safe_dump({"tracking_uri": world.settings.tracking_uri, "artifact_root": world.settings.artifact_root})
    )
    return Registry.from_settings(world.settings.with_overrides(config_dir=config))


@pytest.fixture
def name() -> str:
    return f"gate-{uuid.uuid4().hex[:8]}"


def write_policy(reg: Registry, stages: dict[str, list[Any]], checks: dict[str, Any] | None = None) -> Path:
    assert reg.settings.config_dir is not None
    path = reg.settings.config_dir / "policy.yaml"
    path.write_text(yaml.safe_dump({"checks": PARAMS if checks is None else checks, "stages": stages}))
    return path


def good_version(world: World, reg: Registry, name: str, **kwargs: Any) -> str:
    assert world.good.model_uri
    return register_recorded(reg, name, world.good.model_uri, contract=kwargs.pop("contract", CONTRACT), **kwargs)


def in_production(world: World, reg: Registry, name: str) -> str:
    """A good version in production, moved there the way a user would (forced: no gate in this setup)."""
    version = good_version(world, reg, name)
    api.promote(name, version, "production", force=True, reason="test setup", registry=reg)
    return version


def download(reg: Registry, name: str, version: str, path: str, dst: Path) -> str:
    return reg.download_version_artifact(name, version, path, dst).read_text()


# --- every check passes on a fully recorded version ------------------------------------------------


@pytest.mark.extra("serve")  # serves_input_example starts the gateway
def test_a_fully_recorded_first_release_passes_every_builtin_check_and_stores_its_report(
    world: World, reg: Registry, name: str, tmp_path: Path
) -> None:
    write_policy(reg, {"production": RECORD_CHECKS})
    version = good_version(world, reg, name)

    report = api.check(name, version, "production", registry=reg)

    assert report.passed, report.summary()
    assert [r.name for r in report.results] == RECORD_CHECKS
    statuses = {r.name: r.status for r in report.results}
    assert statuses.pop("last_known_good") == "warn"  # the report says it is the first release
    assert set(statuses.values()) == {"pass"}
    assert "first release" in next(r.evidence for r in report.results if r.name == "last_known_good")
    served = next(r for r in report.results if r.name == "serves_input_example")
    assert "answered its 3-row input example" in served.evidence

    tags = reg.version(name, version).tags
    assert tags[keys.gate_tag("production")] == "passed"
    assert tags[keys.gate_policy_hash_tag("production")] == policy_hash(reg.settings, name)
    assert tags[keys.gate_report_tag("production")] == report.artifacts["json"]
    assert gate_record(reg, name, version, "production").passed
    stored = json.loads(download(reg, name, version, report.artifacts["json"], tmp_path / "json"))
    assert stored["result"] == "passed" and len(stored["checks"]) == len(RECORD_CHECKS)
    page = download(reg, name, version, report.artifacts["html"], tmp_path / "html")
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    for check in RECORD_CHECKS:
        assert f"<td>{check}</td>" in page
    assert "<table" in report._repr_html_()
    assert api.history(name, registry=reg)[0].action == "gate-production"


def test_a_second_release_is_compared_with_production_on_the_same_evaluation_data(
    world: World, reg: Registry, name: str
) -> None:
    checks = ["contract_compatible", "no_regression", "last_known_good", "quality_thresholds"]
    write_policy(reg, {"production": checks})
    v1 = in_production(world, reg, name)
    v2 = good_version(world, reg, name)

    report = api.check(name, v2, "production", registry=reg)

    assert report.passed, report.summary()
    evidence = {r.name: r.evidence for r in report.results}
    assert f"production v{v1}" in evidence["contract_compatible"]
    assert f"vs production v{v1} 0.9733" in evidence["no_regression"]
    assert f"rollback target if this release fails: v{v1}" in evidence["last_known_good"]


# --- the metrics a training run logs are the gate's metrics ----------------------------------------------


@dataclass(frozen=True)
class Trained:
    """A binary classifier trained and evaluated by mlgate.training, and the metrics its run logged."""

    model_uri: str
    logged: dict[str, float]


@pytest.fixture(scope="module")
def trained(world: World, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """Versicolor or not: binary, so the logged f1 (positive class) differs from the macro average."""
    from sklearn.linear_model import LogisticRegression

    from mlgate import training
    from mlgate.testing import tiny_training_data

    x, y = tiny_training_data()
    frame = x.assign(target=(y == 1).astype("int64"))
    train_df, eval_df = frame.iloc[::2].reset_index(drop=True), frame.iloc[1::2].reset_index(drop=True)
    project = tmp_path_factory.mktemp("trained-project")
    with training.track(world.settings, experiment="gate-trained", seed=0, project_dir=project) as run:
        model = LogisticRegression(max_iter=300, random_state=run.random_state)
        model.fit(train_df.drop(columns=["target"]), train_df["target"])
        run.log_data(train_df, eval_df, target="target", name="versicolor")
        model_uri = run.log_model(model)
    logged = dict(Registry.from_settings(world.settings).run(run.run_id).data.metrics)
    return Trained(model_uri, logged)


def test_a_policy_naming_the_metrics_training_logs_is_judged_on_the_logged_values(
    world: World, reg: Registry, name: str, trained: Trained
) -> None:
    f1, auc = trained.logged["f1"], trained.logged["roc_auc"]
    version = register_recorded(reg, name, trained.model_uri)

    def gate(metrics: dict[str, Any]) -> Any:
        write_policy(reg, {"staging": ["quality_thresholds"]}, {"quality_thresholds": {"metrics": metrics}})
        return api.check(name, version, "staging", registry=reg).results[0]

    at_logged = gate({"f1": {"min": f1 - 1e-9, "max": f1 + 1e-9}, "roc_auc": {"min": auc - 1e-9, "max": auc + 1e-9}})
    assert at_logged.status == "pass", at_logged.evidence
    assert f"f1={f1:.4f}, roc_auc={auc:.4f} within thresholds" in at_logged.evidence
    measured = at_logged.details["metrics"]
    assert measured["f1"] == pytest.approx(f1, abs=1e-12) and measured["roc_auc"] == pytest.approx(auc, abs=1e-12)
    assert abs(measured["f1_macro"] - f1) > 1e-3  # a binary task: f1 is not the macro average

    above = gate({"f1": {"min": f1 + 1e-6}, "roc_auc_ovr": {"min": auc + 1e-6}})
    assert above.status == "fail"
    assert f"f1={f1:.4f} below the minimum" in above.evidence
    assert f"roc_auc={auc:.4f} below the minimum" in above.evidence


def test_a_metric_the_model_cannot_give_fails_saying_why(world: World, reg: Registry, name: str) -> None:
    write_policy(reg, {"staging": [{"quality_thresholds": {"metrics": {"roc_auc": {"min": 0.5}, "rmse": {"max": 1}}}}]})
    version = good_version(world, reg, name)

    result = api.check(name, version, "staging", registry=reg).results[0]

    assert result.status == "fail"
    assert "rmse cannot be computed for a classification model" in result.evidence
    assert "roc_auc" not in result.evidence  # the iris model gives probabilities: roc_auc was measured
    assert 0.5 < result.details["metrics"]["roc_auc"] <= 1


# --- every check fails on a version built with that one record broken ------------------------------


def _contract_without(tmp: Path, column: str) -> Path:
    data = yaml.safe_load(CONTRACT.read_text())
    data["version"] = "1.1.0"
    data["columns"] = [c for c in data["columns"] if c["name"] != column]
    path = tmp / "contract-1.1.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


Build = Callable[[World, Registry, str, Path], str]


def _with_run(key: str) -> Build:
    return lambda w, r, n, t: good_version(w, r, n, run_id=w.runs[key])


def _worse(w: World, r: Registry, n: str, t: Path) -> str:
    assert w.worse.model_uri
    return register_recorded(r, n, w.worse.model_uri, contract=CONTRACT)


def _regressed(w: World, r: Registry, n: str, t: Path) -> str:
    in_production(w, r, n)
    return _worse(w, r, n, t)


def _incompatible(w: World, r: Registry, n: str, t: Path) -> str:
    in_production(w, r, n)
    # from its own run: versions of one run share its artifact folder, and so would share contract.yaml
    return good_version(w, r, n, contract=_contract_without(t, "petal_width"), run_id=w.runs["complete"])


def _after_a_rolled_back_release(w: World, r: Registry, n: str, t: Path) -> str:
    v1 = in_production(w, r, n)
    r.set_version_tag(n, v1, keys.ROLLED_BACK_REASON, "error rate doubled")
    return good_version(w, r, n)


def _irreversible(w: World, r: Registry, n: str, t: Path) -> str:
    card = card_dict(data_migrations=[{"name": "drop-legacy-table", "reversible": False}])
    return good_version(w, r, n, card=card)


FAILING: list[tuple[str, Build, str, dict[str, Any], str]] = [
    (
        "unpinned requirement",
        lambda w, r, n, t: register_recorded(r, n, *w.unpinned, CONTRACT),
        "requirements_pinned",
        {},
        "scikit-learn>=1.5",
    ),
    (
        "missing evaluation digest",
        _with_run("no evaluation_digest"),
        "dataset_digests",
        {},
        "evaluation dataset 'iris-evaluation' has no full-content sha256",
    ),
    (
        "evaluation set swapped after logging",
        _with_run("evaluation swapped"),
        "dataset_digests",
        {},
        "is not the logged evaluation dataset",
    ),
    ("no seed", _with_run("no seed"), "seed_recorded", {}, "records no seed"),
    ("no code revision", _with_run("no code_revision"), "code_revision", {}, "records no code revision"),
    ("dirty code without its diff", _with_run("dirty"), "code_revision", {}, "uncommitted changes"),
    (
        "model files missing",
        lambda w, r, n, t: register_recorded(r, n, *w.broken, CONTRACT),
        "model_loads",
        {},
        "does not load",
    ),
    (
        "model cannot be served",
        lambda w, r, n, t: register_recorded(r, n, *w.broken, CONTRACT),
        "serves_input_example",
        {},
        "does not load",
    ),
    ("metric below threshold", _worse, "quality_thresholds", {}, "accuracy=0.8733 below the minimum 0.9"),
    (
        "metric needs probabilities the model does not give",
        lambda w, r, n, t: register_recorded(r, n, w.scoreless.model_uri or "", contract=CONTRACT),
        "quality_thresholds",
        {"quality_thresholds": {"metrics": {"accuracy": {"min": 0.5}, "roc_auc": {"min": 0.5}}}},
        "roc_auc cannot be computed: it needs class probabilities and the model gives none",
    ),
    (
        "regression against production",
        _regressed,
        "no_regression",
        {"quality_thresholds": {"metrics": {"accuracy": {"min": 0.5}}}},
        "accuracy 0.8733 vs production v1 0.9733: worse by 0.1000 > tolerance 0.01",
    ),
    (
        "no contract bound",
        lambda w, r, n, t: good_version(w, r, n, contract=None),
        "contract_bound",
        {},
        "no data contract is bound",
    ),
    (
        "training data not validated",
        _with_run("no contract_validation"),
        "contract_validated",
        {},
        "records no contract validation",
    ),
    (
        "training data failed the contract",
        _with_run("validation failed"),
        "contract_validated",
        {},
        "failed contract validation",
    ),
    (
        "contract drops a column production reads",
        _incompatible,
        "contract_compatible",
        {},
        "column petal_width removed",
    ),
    ("transform tests failed", _with_run("transform failures"), "transform_tests", {}, "4 tests, 2 failures"),
    ("no transform test results", _with_run("no transform_tests"), "transform_tests", {}, "no transform test results"),
    (
        "incomplete model card",
        lambda w, r, n, t: good_version(w, r, n, card={k: v for k, v in card_dict().items() if k != "intended_use"}),
        "card_complete",
        {},
        "intended_use: missing",
    ),
    (
        "no description",
        lambda w, r, n, t: good_version(w, r, n, description=""),
        "description_present",
        {},
        "no description",
    ),
    ("no reference profile", _with_run("no reference_profile"), "reference_profile", {}, "no reference profile"),
    (
        "owner without an alert route",
        lambda w, r, n, t: good_version(w, r, n, card=card_dict(owner="nobody@example.com")),
        "alert_owner",
        {},
        "has no route",
    ),
    (
        "previous production was rolled back",
        _after_a_rolled_back_release,
        "last_known_good",
        {},
        "rolled back: error rate doubled",
    ),
    (
        "irreversible migration not allowed",
        _irreversible,
        "data_migrations",
        {"data_migrations": {"allow_irreversible": False}},
        "drop-legacy-table (IRREVERSIBLE)",
    ),
]


@pytest.mark.parametrize(
    ("build", "check", "params", "evidence"), [c[1:] for c in FAILING], ids=[c[0] for c in FAILING]
)
def test_each_check_fails_on_a_version_with_that_record_broken(
    world: World,
    reg: Registry,
    name: str,
    tmp_path: Path,
    build: Build,
    check: str,
    params: dict[str, Any],
    evidence: str,
) -> None:
    write_policy(reg, {"production": [*(k for k in params if k != check), check]}, {**PARAMS, **params})
    version = build(world, reg, name, tmp_path)

    report = api.check(name, version, "production", registry=reg)

    result = report.results[-1]
    assert (result.name, result.status) == (check, "fail"), result
    assert evidence in result.evidence
    assert result.action  # every failure says what to do
    assert all(r.status == "pass" for r in report.results[:-1]), report.results
    assert not report.passed
    assert reg.version(name, version).tags[keys.gate_tag("production")] == "failed"


def test_an_irreversible_migration_is_a_warning_by_default(
    world: World, reg: Registry, name: str, tmp_path: Path
) -> None:
    write_policy(reg, {"production": ["data_migrations"]})
    report = api.check(name, _irreversible(world, reg, name, tmp_path), "production", registry=reg)
    assert report.passed and report.results[0].status == "warn"
    assert "--accept-irreversible" in report.results[0].action


# --- promotion behind the gate -----------------------------------------------------------------------


def gate_runs(reg: Registry, name: str, stage: str) -> int:
    return sum(e.action == f"gate-{stage}" for e in api.history(name, registry=reg))


def test_promotion_is_refused_listing_the_failed_checks_and_allowed_when_the_gate_passes(
    world: World, reg: Registry, name: str, tmp_path: Path
) -> None:
    write_policy(reg, {"staging": ["quality_thresholds", "seed_recorded"]})
    bad = _worse(world, reg, name, tmp_path)
    good = good_version(world, reg, name)

    with pytest.raises(GateFailed) as refused:
        api.promote(name, bad, "staging", registry=reg)
    assert "quality_thresholds: on 150 evaluation rows: accuracy=0.8733 below the minimum 0.9" in str(refused.value)
    assert "seed_recorded" not in str(refused.value)  # only the failed checks are listed
    assert "staging" not in reg.aliases(name)
    assert reg.version(name, bad).tags[keys.gate_tag("staging")] == "failed"

    result = api.promote(name, good, "staging", registry=reg)
    assert result.gate == "passed" and reg.aliases(name)["staging"] == good
    assert reg.version(name, good).tags[keys.gate_tag("staging")] == "passed"
    promoted = api.history(name, registry=reg)[0]
    assert promoted.action == "promote-staging" and promoted.details["gate"] == "passed"


def test_a_passing_report_is_reused_until_the_policy_changes(world: World, reg: Registry, name: str) -> None:
    policy = write_policy(reg, {"staging": ["seed_recorded", "card_complete"]})
    version = good_version(world, reg, name)
    assert api.check(name, version, "staging", registry=reg).passed
    api.promote(name, version, "staging", registry=reg)
    assert gate_runs(reg, name, "staging") == 1  # the stored report under the same policy was enough

    policy.write_text(policy.read_text() + "# tightened later\n")
    record = gate_record(reg, name, version, "staging")
    assert not record.passed and "another policy" in record.explain()
    api.promote(name, version, "staging", registry=reg)
    assert gate_runs(reg, name, "staging") == 2  # the gate ran again under the new policy

    override = reg.settings.config_dir / "policies" / f"{name}.yaml"  # type: ignore[operator]
    override.parent.mkdir()
    override.write_text(yaml.safe_dump({"stages": {"staging": ["seed_recorded", "description_present"]}}))
    assert not gate_record(reg, name, version, "staging").passed  # a per-model override counts too
    report = api.check(name, version, "staging", registry=reg)
    assert [r.name for r in report.results] == ["seed_recorded", "description_present"]
    assert str(override) in report.policy_sources


def test_a_gate_that_runs_no_check_never_passes(world: World, reg: Registry, name: str) -> None:
    write_policy(reg, {"staging": [], "production": ["seed_recorded"]})
    version = good_version(world, reg, name)
    report = api.check(name, version, "staging", registry=reg)
    assert not report.passed and "never passes" in report.summary()
    assert "no check ran" in report.to_html()
    with pytest.raises(GateFailed, match="no check"):
        api.promote(name, version, "staging", registry=reg)
    assert not api.check(name, version, "canary", registry=reg).passed  # a stage the policy leaves out


CUSTOM = """
from mlgate.gate import failed, passed


def owner_in_domain(ctx, params):
    owner = ctx.tags.get("mlgate.owner", "")
    if owner.endswith(params["domain"]):
        return passed(f"owner {owner} is in {params['domain']}")
    return failed(f"owner {owner} is outside {params['domain']}", "hand the model to a team in the domain")


def fairness_service(ctx, params):
    raise RuntimeError("the fairness service is down")


def says_yes(ctx, params):
    return True
"""


def test_a_custom_check_runs_and_one_that_raises_counts_as_failed(
    world: World, reg: Registry, name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = f"custom_checks_{uuid.uuid4().hex[:6]}"
    (tmp_path / f"{module}.py").write_text(CUSTOM)
    monkeypatch.syspath_prepend(str(tmp_path))
    write_policy(
        reg,
        {
            "staging": [{f"{module}:owner_in_domain": {"domain": "@example.com"}}, f"{module}:says_yes"],
            "production": [f"{module}:owner_in_domain", f"{module}:fairness_service", "seed_recorded"],
        },
        {f"{module}:owner_in_domain": {"domain": "@elsewhere.org"}},
    )
    version = good_version(world, reg, name)

    staging = api.check(name, version, "staging", registry=reg)
    assert staging.passed, staging.results
    assert staging.results[0].evidence == "owner ml-platform@example.com is in @example.com"
    assert staging.results[0].area == "custom"

    production = api.check(name, version, "production", registry=reg)
    statuses = [(r.name.split(":")[1], r.status) for r in production.results[:2]]
    assert statuses == [("owner_in_domain", "fail"), ("fairness_service", "error")]
    assert "RuntimeError: the fairness service is down" in production.results[1].evidence
    assert production.results[2].status == "pass"  # the next check still ran
    assert not production.passed


# --- the command line ----------------------------------------------------------------------------------


def test_mlgate_check_prints_a_table_stores_the_report_and_exits_by_verdict(
    world: World, reg: Registry, name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_policy(reg, {"staging": ["quality_thresholds", "seed_recorded", "last_known_good"]})
    good = good_version(world, reg, name)
    bad = _worse(world, reg, name, tmp_path)
    monkeypatch.setenv("MLGATE_CONFIG_DIR", str(reg.settings.config_dir))
    runner = CliRunner()

    passed = runner.invoke(main, ["check", name, good, "--stage", "staging"])
    assert passed.exit_code == 0, passed.output
    assert "✓  quality_thresholds" in passed.output and "!  last_known_good" in passed.output
    assert "staging gate passed" in passed.output and ".html" in passed.output

    failed = runner.invoke(main, ["check", name, bad, "--stage", "staging"])
    assert failed.exit_code == 1, failed.output
    assert "✗  quality_thresholds" in failed.output and "improve the model" in failed.output

    as_json = runner.invoke(main, ["check", name, bad, "--stage", "staging", "--json"])
    assert as_json.exit_code == 1
    data = json.loads(as_json.output)
    assert data["result"] == "failed" and data["checks"][0]["name"] == "quality_thresholds"
    assert reg.version(name, bad).tags[keys.gate_report_tag("staging")] == data["artifacts"]["json"]

    refused = runner.invoke(main, ["promote", name, bad, "--to", "staging"])
    assert refused.exit_code == 1 and "quality_thresholds" in refused.output and "Traceback" not in refused.output


def test_the_html_report_renders_every_check_in_a_browser(
    world: World, reg: Registry, name: str, tmp_path: Path
) -> None:
    from tests.browser import external_references, render_check, require_chromium, save_docs_screenshot

    chromium = require_chromium()
    write_policy(reg, {"production": ["seed_recorded", "quality_thresholds", "last_known_good"]})
    report = api.check(name, _worse(world, reg, name, tmp_path), "production", registry=reg)
    page = reg.download_version_artifact(name, report.version, report.artifacts["html"], tmp_path / "html")

    assert external_references(page) == []  # self-contained: renders in the MLflow UI's artifact view
    seen = render_check(page, ["h1.failed", "table.mlgate-gate", "tr.pass", "tr.fail", "tr.warn", "td"], chromium)
    for selector, count in {"h1.failed": 1, "table.mlgate-gate": 1, "tr.pass": 1, "tr.fail": 1, "tr.warn": 1}.items():
        assert seen[selector] == {"count": count, "visible": count, "hidden": []}, (selector, seen[selector])
    assert seen["td"]["visible"] == seen["td"]["count"] == 3 * 6
    text = page.read_text()
    for check in ("seed_recorded", "quality_thresholds", "last_known_good"):
        assert f"<td>{check}</td>" in text
    save_docs_screenshot(page, "gate-report", chromium)  # `make docs-screenshots`: the docs show this report
