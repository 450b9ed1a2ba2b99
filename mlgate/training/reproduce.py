"""Rebuild a registered version from its training record and say whether it comes out the same.

``reproduce`` retrieves the exact package (model artifacts, pinned requirements, dataset digests,
seed, code revision), lists every difference between the recorded environment and this one, then,
when a training entry point was recorded and the training data it yields has the recorded digest,
re-runs the training with the recorded seed and compares the new model's predictions on the
recorded evaluation set with the registered model's: identical, or within a stated tolerance.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlgate.exceptions import MlgateError
from mlgate.registry import Registry, keys, mlflow_uris
from mlgate.registry.package import load_package
from mlgate.training.provenance import (
    code_revision,
    dataset_sha256,
    file_sha256,
    fixed_seeds,
    installed_packages,
    resolve_entry_point,
    uncommitted_changes,
)


@dataclass(frozen=True)
class Difference:
    """One way the rebuild differs from the record: kind, what, recorded value, current value."""

    kind: str  # python | platform | requirement | package | seed | code | data
    name: str
    recorded: str | None
    current: str | None

    def __str__(self) -> str:
        what = self.kind if self.name == self.kind else f"{self.kind} {self.name}"
        return f"{what}: recorded {self.recorded or '(absent)'}, now {self.current or '(absent)'}"


@dataclass(frozen=True)
class Comparison:
    """Predictions of the registered and the rebuilt model on the recorded evaluation set."""

    rows: int
    compared: str  # probabilities | predictions
    differing_rows: int
    max_abs_difference: float
    tolerance: float

    @property
    def matches(self) -> bool:
        return self.differing_rows == 0

    def summary(self) -> str:
        if self.matches:
            same = "identical" if self.max_abs_difference == 0 else f"within {self.tolerance:g}"
            return f"{self.compared} on {self.rows} evaluation rows: {same}"
        return (
            f"{self.compared} differ on {self.differing_rows} of {self.rows} evaluation rows "
            f"(max |difference| {self.max_abs_difference:.3g}, tolerance {self.tolerance:g})"
        )


@dataclass
class ReproduceReport:
    """Everything ``mlgate reproduce`` found, and its verdict with the reason."""

    model: str
    version: str
    run_id: str | None = None
    seed: int | None = None
    seed_used: int | None = None
    code_revision: str | None = None
    current_code_revision: str | None = None
    entry_point: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    requirements: list[str] = field(default_factory=list)
    datasets: dict[str, dict[str, str]] = field(default_factory=dict)
    artifacts: list[str] = field(default_factory=list)
    package_dir: str | None = None
    differences: list[Difference] = field(default_factory=list)
    comparison: Comparison | None = None
    reproduced: bool = False
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["comparison"] = asdict(self.comparison) | {"matches": self.comparison.matches} if self.comparison else None
        return data

    def fail(self, reason: str) -> ReproduceReport:
        self.reproduced = False
        self.reason = reason
        return self


def environment_differences(recorded: dict[str, Any], current: dict[str, Any]) -> list[Difference]:
    """Every difference between two environment records: Python, platform, model requirements, other packages."""
    out = [
        Difference(kind, key, str(recorded.get(key)), str(current.get(key)))
        for kind, key in (
            ("python", "python"),
            ("python", "implementation"),
            ("platform", "system"),
            ("platform", "machine"),
            ("platform", "platform"),
        )
        if recorded.get(key) != current.get(key)
    ]
    required = recorded.get("requirements") or {}
    now = current.get("packages") or {}
    for name, version in sorted(required.items()):
        if now.get(name) != version:
            out.append(Difference("requirement", name, version, now.get(name)))
    before = recorded.get("packages") or {}
    for name in sorted((set(before) | set(now)) - set(required)):
        if before.get(name) != now.get(name):
            out.append(Difference("package", name, before.get(name), now.get(name)))
    return out


def current_environment() -> dict[str, Any]:
    """This interpreter's environment in the shape ``mlgate.training`` records."""
    import platform

    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "system": platform.system(),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "packages": installed_packages(),
    }


def compare_predictions(registered: Any, rebuilt: Any, features: Any, tolerance: float = 0.0) -> Comparison:
    """Compare two models on ``features``: probabilities when both give them, else predictions."""
    if hasattr(registered, "predict_proba") and hasattr(rebuilt, "predict_proba"):
        compared = "probabilities"
        old, new = np.asarray(registered.predict_proba(features)), np.asarray(rebuilt.predict_proba(features))
    else:
        compared = "predictions"
        old, new = np.asarray(registered.predict(features)), np.asarray(rebuilt.predict(features))
    rows = int(old.shape[0])
    if old.shape != new.shape:
        return Comparison(rows, f"{compared} (shapes {old.shape} vs {new.shape})", rows, float("inf"), tolerance)
    if np.issubdtype(old.dtype, np.number) and np.issubdtype(new.dtype, np.number):
        gap = np.abs(old.astype("float64") - new.astype("float64")).reshape(rows, -1)
        gap = np.where(
            np.isnan(gap), np.where(np.isnan(old).reshape(rows, -1) & np.isnan(new).reshape(rows, -1), 0, np.inf), gap
        )
        worst = float(gap.max()) if gap.size else 0.0
        differing = int((gap > tolerance).any(axis=1).sum())
    else:
        unequal = (old != new).reshape(rows, -1).any(axis=1)
        differing, worst = int(unequal.sum()), float(bool(unequal.any()))
    return Comparison(rows, compared, differing, worst, tolerance)


@contextlib.contextmanager
def _on_path(folder: Path) -> Iterator[None]:
    entry = str(folder)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(entry)


def _download_records(registry: Registry, run_id: str, dst: Path) -> Path | None:
    from mlflow.artifacts import download_artifacts

    try:
        with mlflow_uris(registry.settings):
            return Path(download_artifacts(run_id=run_id, artifact_path=keys.ARTIFACT_DIR, dst_path=str(dst)))
    except Exception:  # noqa: BLE001 - no records folder on the run
        return None


def _native_model(package_path: Path, pyfunc: Any) -> Any:
    """The scikit-learn object when the package has that flavor (for probabilities), else the pyfunc."""
    from mlflow.models import Model

    if "sklearn" in (Model.load(str(package_path)).flavors or {}):
        import mlflow.sklearn

        return mlflow.sklearn.load_model(str(package_path))
    return pyfunc


def reproduce(
    registry: Registry,
    name: str,
    version: str,
    *,
    project_dir: str | Path = ".",
    seed: int | None = None,
    tolerance: float = 0.0,
    output: str | Path | None = None,
    strict: bool = False,
) -> ReproduceReport:
    """Retrieve a version's package and training record, diff the environment, re-run and compare.

    ``seed`` overrides the recorded seed (to see how much it matters). ``strict`` also fails when
    a model requirement or the Python version differs. ``output`` keeps the retrieved package
    (model, requirements, mlgate records, this report) in that folder.
    """
    report = ReproduceReport(model=name, version=str(version))
    mv = registry.version(name, version)
    if not mv.run_id:
        return report.fail("the version has no source run: it was not logged by a tracked training run")
    report.run_id = str(mv.run_id)
    run = registry.run(str(mv.run_id))
    params, tags = dict(run.data.params), dict(run.data.tags)
    raw_seed = params.get(keys.SEED_PARAM)
    report.seed = int(raw_seed) if raw_seed is not None and raw_seed.lstrip("-").isdigit() else None
    report.seed_used = seed if seed is not None else report.seed
    report.code_revision = tags.get(keys.CODE_REVISION_TAG)
    report.current_code_revision = code_revision(project_dir)
    report.entry_point = tags.get(keys.ENTRY_POINT_TAG)
    report.params = json.loads(tags.get(keys.ENTRY_POINT_PARAMS_TAG) or "{}")
    for context in ("training", "evaluation"):
        sha = tags.get(keys.DATASET_SHA256_TAG.format(context=context))
        if sha:
            report.datasets[context] = {
                "name": tags.get(keys.DATASET_NAME_TAG.format(context=context), ""),
                "sha256": sha,
            }

    keep = Path(output) if output is not None else None
    work = keep or Path(tempfile.mkdtemp(prefix="mlgate-reproduce-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        target = tags.get(keys.EVALUATION_TARGET_TAG)
        _retrieve_and_rebuild(registry, report, work, Path(project_dir).resolve(), target, tolerance, strict)
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)
        else:
            report.package_dir = str(keep.resolve())
            (keep / "reproduce.json").write_text(json.dumps(report.to_dict(), indent=2, default=str))
    return report


def _retrieve_and_rebuild(
    registry: Registry,
    report: ReproduceReport,
    work: Path,
    project: Path,
    target: str | None,
    tolerance: float,
    strict: bool,
) -> None:
    import pandas as pd

    package = load_package(registry, report.model, report.version, work / "model")
    requirements = package.path / "requirements.txt"
    if requirements.is_file():
        report.requirements = [line.strip() for line in requirements.read_text().splitlines() if line.strip()]
    records = _download_records(registry, str(report.run_id), work)
    if records is not None:
        report.artifacts = sorted(str(p.relative_to(work)) for p in records.rglob("*") if p.is_file())

    environment_file = work / keys.ENVIRONMENT_ARTIFACT
    if environment_file.is_file():
        report.differences += environment_differences(json.loads(environment_file.read_text()), current_environment())
    else:
        report.differences.append(Difference("python", "environment record", None, "not recorded"))
    if report.code_revision != report.current_code_revision:
        report.differences.append(Difference("code", "revision", report.code_revision, report.current_code_revision))
    elif report.code_revision and report.code_revision.endswith("-dirty"):
        recorded_diff = work / keys.CODE_DIFF_ARTIFACT
        before = file_sha256(recorded_diff)[:12] if recorded_diff.is_file() else None
        now = uncommitted_changes(project)
        after = hashlib.sha256(now.encode()).hexdigest()[:12] if now is not None else None
        if before != after:
            report.differences.append(Difference("code", "uncommitted changes (sha256 of the diff)", before, after))
    if report.seed_used != report.seed:
        report.differences.append(Difference("seed", keys.SEED_PARAM, str(report.seed), str(report.seed_used)))

    if strict:
        pinned = [d for d in report.differences if d.kind in ("requirement", "python")]
        if pinned:
            report.fail(f"--strict: {'; '.join(map(str, pinned))}")
            return
    if report.seed_used is None:
        report.fail(f"no seed is recorded on run {report.run_id} (param {keys.SEED_PARAM!r})")
        return
    if not report.entry_point:
        report.fail(
            "no training entry point is recorded: train with mlgate.training.track(entry_point='module:function')"
        )
        return
    evaluation_file = work / keys.EVALUATION_ARTIFACT
    if not evaluation_file.is_file() or not target:
        report.fail(f"the run has no evaluation set ({keys.EVALUATION_ARTIFACT} and tag {keys.EVALUATION_TARGET_TAG})")
        return
    evaluation = pd.read_parquet(evaluation_file)
    recorded_eval = report.datasets.get("evaluation", {}).get("sha256")
    if recorded_eval and dataset_sha256(evaluation) != recorded_eval:
        report.fail(f"the stored evaluation set does not match its recorded sha256 {recorded_eval}: it was altered")
        return

    with _on_path(project):
        try:
            function = resolve_entry_point(report.entry_point)
            with fixed_seeds(report.seed_used):
                fitted = function(seed=report.seed_used, **report.params)
        except MlgateError as exc:
            report.fail(f"cannot run the entry point {report.entry_point}: {exc.message}")
            return
        except FileNotFoundError as exc:
            report.fail(f"the training data is not available: {exc}")
            return
        except Exception as exc:  # noqa: BLE001 - user training code can fail in any way
            report.fail(f"the entry point {report.entry_point} failed: {type(exc).__name__}: {exc}")
            return

    recorded_training = report.datasets.get("training", {}).get("sha256")
    rebuilt_training = dataset_sha256(fitted.training_data)
    if recorded_training != rebuilt_training:
        report.differences.append(Difference("data", "training sha256", recorded_training, rebuilt_training))
        report.fail(
            f"the training data differs from the recorded one (sha256 {recorded_training}, now {rebuilt_training}): "
            "restore the data the version was trained on"
        )
        return

    features = evaluation.drop(columns=[target])
    registered = _native_model(package.path, package.model)
    report.comparison = compare_predictions(registered, fitted.model, features, tolerance)
    if not report.comparison.matches:
        causes = [str(d) for d in report.differences if d.kind in ("seed", "requirement", "code", "python")]
        why = f"; possible causes: {'; '.join(causes)}" if causes else ""
        report.fail(f"the rebuilt model's {report.comparison.summary()}{why}")
        return
    report.reproduced = True
    report.reason = None
