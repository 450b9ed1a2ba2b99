"""Reproducibility checks: pinned requirements, seed, full-content dataset digests, loadable model, code revision."""

from __future__ import annotations

import re
from typing import Any

from mlgate.gate.context import GateContext
from mlgate.gate.report import Outcome, failed, passed, warned
from mlgate.gate.spec import CheckSpec, no_params
from mlgate.registry import keys
from mlgate.stats.digest import dataset_sha256

AREA = "reproducibility"
DATASET_CONTEXTS = ("training", "evaluation")
_PINNED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[^\]]*\])?\s*===?\s*[^\s,;*<>=!~]+\s*(;.*)?$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def unpinned_requirements(text: str) -> list[str]:
    """The lines of a requirements.txt that do not pin one exact version with ``==``."""
    bad = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if not _PINNED.match(line):
            bad.append(line)
    return bad


def requirements_pinned(ctx: GateContext, params: dict[str, Any]) -> Outcome:
    """Every requirement of the model's environment is pinned to one exact version (``==``)."""
    path = ctx.model_dir() / "requirements.txt"
    if not path.is_file():
        return failed("the model package has no requirements.txt", "log the model with explicit pip_requirements")
    lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.strip().startswith("#")]
    bad = unpinned_requirements(path.read_text())
    if bad:
        return failed(
            f"{len(bad)} of {len(lines)} requirement(s) not pinned with ==: {', '.join(bad)}",
            "log the model with pip_requirements pinned exactly, e.g. scikit-learn==1.9.0",
            unpinned=bad,
        )
    if not lines:
        return failed("requirements.txt is empty", "log the model with explicit pip_requirements")
    return passed(f"all {len(lines)} requirements pinned: {', '.join(lines)}", requirements=lines)


def seed_recorded(ctx: GateContext, params: dict[str, Any]) -> Outcome:
    """The training run records the random seed it used (run param ``seed``)."""
    seed = ctx.run_params.get(keys.SEED_PARAM)
    if seed is None or not seed.strip():
        return failed(
            f"the training run records no seed (run param {keys.SEED_PARAM!r})",
            f"fix the seed and log it: mlflow.log_param({keys.SEED_PARAM!r}, seed)",
        )
    try:
        int(seed)
    except ValueError:
        return failed(f"the recorded seed {seed!r} is not an integer", "log the integer seed the training used")
    return passed(f"seed {seed} recorded")


def dataset_digests(ctx: GateContext, params: dict[str, Any]) -> Outcome:
    """Every training and evaluation dataset of the run carries a full-content sha256."""
    inputs = list(ctx.run.inputs.dataset_inputs or []) if ctx.run.inputs else []
    by_context: dict[str, list[Any]] = {c: [] for c in DATASET_CONTEXTS}
    for item in inputs:
        context = {t.key: t.value for t in item.tags or []}.get("mlflow.data.context", "")
        if context in by_context:
            by_context[context].append(item.dataset)
    problems: list[str] = []
    seen: list[str] = []
    for context, datasets in by_context.items():
        tag = keys.DATASET_SHA256_TAG.format(context=context)
        full = (ctx.run_tags.get(tag) or "").strip().lower()
        if not datasets:
            problems.append(f"no {context} dataset logged (log_input context={context!r})")
            continue
        if not _SHA256.match(full):
            problems.append(f"{context} dataset {datasets[0].name!r} has no full-content sha256 (run tag {tag})")
            continue
        for dataset in datasets:
            if dataset.digest != full[: keys.DIGEST_LENGTH]:
                problems.append(
                    f"{context} dataset {dataset.name!r} digest {dataset.digest} is not the start of its sha256 "
                    f"{full[:12]}… (the dataset or the tag is stale)"
                )
            else:
                seen.append(f"{context} {dataset.name} sha256 {full[:12]}…")
    if not problems:
        swapped = _evaluation_set_matches(ctx)
        if swapped:
            return failed(
                swapped,
                "store the evaluation set from the same frame the evaluation dataset was logged from "
                "(mlgate.training does both), then register a new version",
            )
    if problems:
        return failed(
            "; ".join(problems),
            "log each dataset with mlflow.log_input(from_pandas(..., digest=sha[:36]), context=...) "
            f"and the full sha256 of its content in run tag {keys.DATASET_SHA256_TAG}",
            problems=problems,
        )
    return passed("; ".join(seen))


def _evaluation_set_matches(ctx: GateContext) -> str:
    """The evaluation set the gate scores must be the logged evaluation dataset, byte for byte."""
    local = ctx.artifact(keys.EVALUATION_ARTIFACT)
    if local is None:
        return ""  # quality_thresholds reports a missing evaluation set
    import pandas as pd

    recorded = ctx.run_tags.get(keys.DATASET_SHA256_TAG.format(context="evaluation"), "")
    actual = dataset_sha256(pd.read_parquet(local))
    if actual != recorded:
        return (
            f"the evaluation set stored as {keys.EVALUATION_ARTIFACT} (sha256 {actual[:12]}…) is not the logged "
            f"evaluation dataset (sha256 {recorded[:12]}…)"
        )
    return ""


def model_loads(ctx: GateContext, params: dict[str, Any]) -> Outcome:
    """The exact model package is retrievable from the registry and loads."""
    package = ctx.package()
    files = sum(1 for p in package.path.rglob("*") if p.is_file())
    size = sum(p.stat().st_size for p in package.path.rglob("*") if p.is_file())
    flavors = ", ".join(sorted(getattr(package.model.metadata, "flavors", {}) or {}))
    return passed(
        f"downloaded models:/{ctx.name}/{ctx.version} ({files} files, {size / 1024:.0f} KiB) and loaded it ({flavors})"
    )


def code_revision(ctx: GateContext, params: dict[str, Any]) -> Outcome:
    """The training run records the code revision it ran."""
    tags = ctx.run_tags
    revision = tags.get(keys.CODE_REVISION_TAG) or tags.get("mlflow.source.git.commit")
    if not revision or not revision.strip():
        return failed(
            f"the training run records no code revision (run tag {keys.CODE_REVISION_TAG})",
            "train from a git checkout and record `git rev-parse HEAD` in that tag",
        )
    if revision.endswith("-dirty"):
        if ctx.artifact(keys.CODE_DIFF_ARTIFACT) is None:
            return failed(
                f"code revision {revision} had uncommitted changes and no diff of them is stored",
                f"commit the code and retrain, or log `git diff HEAD` as {keys.CODE_DIFF_ARTIFACT}",
            )
        return warned(
            f"code revision {revision}: uncommitted changes, stored as {keys.CODE_DIFF_ARTIFACT}",
            "commit the code and retrain so the revision alone names what ran",
        )
    return passed(f"code revision {revision}")


SPECS: tuple[CheckSpec, ...] = (
    CheckSpec("requirements_pinned", AREA, requirements_pinned, no_params),
    CheckSpec("seed_recorded", AREA, seed_recorded, no_params),
    CheckSpec("dataset_digests", AREA, dataset_digests, no_params),
    CheckSpec("model_loads", AREA, model_loads, no_params),
    CheckSpec("code_revision", AREA, code_revision, no_params),
)
