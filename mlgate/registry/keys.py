"""The names mlgate writes into the MLflow registry: tag keys and artifact paths, in one place."""

from __future__ import annotations

PREFIX = "mlgate."

# --- model version tags --------------------------------------------------------------
STATUS = "mlgate.status"  # candidate | archived | rolled-back | failed (aliases carry the live stages)
CARD = "mlgate.card"  # before `mlgate migrate`: the whole card as JSON (now the file CARD_ARTIFACT)
OWNER = "mlgate.owner"
INTENDED_USE = "mlgate.intended_use"
TRAINING_DATA_NAME = "mlgate.training_data.name"
TRAINING_DATA_SHA256 = "mlgate.training_data.sha256"
REGISTERED_BY = "mlgate.registered_by"
HELD_PRODUCTION = "mlgate.held_production"  # "true" once the version has held production
PRODUCTION_AT = "mlgate.production_at"  # ISO time it last entered production
SMOKE = "mlgate.smoke"  # passed | failed: the last post-deploy smoke test in production
SMOKE_AT = "mlgate.smoke_at"
# before `mlgate migrate`: the smoke reference as JSON (now the file SMOKE_REFERENCE_ARTIFACT)
SMOKE_REFERENCE = "mlgate.smoke.reference"
ROLLED_BACK_REASON = "mlgate.rolled_back_reason"
RECORD_RUN = "mlgate.record_run_id"  # run holding mlgate's artifacts when the version has none
CONTRACT_NAME = "mlgate.contract.name"
CONTRACT_VERSION = "mlgate.contract.version"
CONTRACT_SHA256 = "mlgate.contract.sha256"
# a decision's key, mlgate.approval.<stage>.<time ns>.<random>: the name of its run's tag, and before
# `mlgate migrate` a version tag holding its JSON (now a run of the history experiment; mlgate.registry.approvals)
APPROVAL_PREFIX = "mlgate.approval."


def gate_tag(stage: str) -> str:
    """Tag holding passed / failed for the gate of ``stage``."""
    return f"mlgate.gate.{stage}"


def gate_policy_hash_tag(stage: str) -> str:
    """Tag holding the hash of the policy the gate of ``stage`` ran under."""
    return f"mlgate.gate.{stage}.policy_sha256"


def gate_time_tag(stage: str) -> str:
    """Tag holding when the gate of ``stage`` last ran."""
    return f"mlgate.gate.{stage}.at"


def gate_report_tag(stage: str) -> str:
    """Tag holding the artifact path of the JSON gate report for ``stage``."""
    return f"mlgate.gate.{stage}.report"


# --- registered model tags -----------------------------------------------------------
EVENT_PREFIX = "mlgate.event."  # before `mlgate migrate`: one tag per event, mlgate.event.<time ns>.<op id>.<seq>
HISTORY_OF = "mlgate.history.of"  # on the history experiment and its runs: the model (mlgate.registry.history)
CANARY_WEIGHT = "mlgate.canary.weight"  # percent of traffic sent to the canary alias
SHADOW_SHARE = "mlgate.shadow.share"  # percent of production requests mirrored to the shadow alias
ROLLOUT = "mlgate.rollout"  # JSON state of the rollout in progress
WATCH = "mlgate.watch"  # JSON state of the post-promotion watch (release/rollout/watch_state.py)
LOCK_MODEL_PREFIX = "mlgate-lock."  # registered model used as the mutex of a model
LOCK_HOLDER = "mlgate.lock.holder"
LOCK_EXPIRES = "mlgate.lock.expires"
LOCK_TOKEN = "mlgate.lock.token"
IS_LOCK = "mlgate.lock"

# --- artifact paths (under the version's run) ----------------------------------------
ARTIFACT_DIR = "mlgate"
CARD_ARTIFACT = "mlgate/model_card.yaml"
CONTRACT_ARTIFACT = "mlgate/contract.yaml"
# JSON: the serving input example, its sha256 and the predictions the version gives for it, computed
# locally by a passing smoke test (when, by whom, with what), so the next endpoint smoke need not load it
SMOKE_REFERENCE_ARTIFACT = "mlgate/smoke_reference.json"


def version_artifact_dir(name: str, version: str | int) -> str:
    """Folder of the files bound to one registered version at register time (card, contract).

    Several versions (even of several models) can come from one run, so the run-level
    ``mlgate/`` folder is not enough: each version gets its own.
    """
    return f"mlgate/registered/{name}/v{version}"


def version_artifact(name: str, version: str | int, path: str) -> str:
    """Artifact path of ``path``'s file name (e.g. CARD_ARTIFACT) in the version's own folder."""
    return f"{version_artifact_dir(name, version)}/{path.rsplit('/', 1)[-1]}"


# --- run records written by training (mlgate.training) ---------------------------------
SEED_PARAM = "seed"
CODE_REVISION_TAG = "mlgate.code_revision"
TRANSFORM_TESTS_ARTIFACT = "mlgate/transform_tests.xml"
REFERENCE_PROFILE_ARTIFACT = "mlgate/reference_profile.json"
ENVIRONMENT_ARTIFACT = "mlgate/environment.json"

# --- training records on the source run (written by mlgate.training, read by the gate) ---------
# MLflow caps a dataset digest at 36 characters, so `digest=` gets the first 36 hex digits of the
# full-content sha256 and the whole sha256 goes into a run tag per dataset context.
DATASET_SHA256_TAG = "mlgate.dataset.{context}.sha256"  # context: training | evaluation
DATASET_NAME_TAG = "mlgate.dataset.{context}.name"
DIGEST_LENGTH = 36
CONTRACT_VALIDATION_TAG = "mlgate.contract_validation"  # passed | failed (training data vs contract)
CONTRACT_VALIDATION_ARTIFACT = "mlgate/contract_validation.json"
EVALUATION_ARTIFACT = "mlgate/evaluation.parquet"  # features + target column, for the gate's metrics
EVALUATION_TARGET_TAG = "mlgate.evaluation.target"  # name of the target column in it
TASK_TAG = "mlgate.task"  # classification | regression

# --- how `mlgate reproduce` re-runs a training (written by mlgate.training) -------------------
ENTRY_POINT_TAG = "mlgate.entry_point"  # module:function, called as function(seed=seed, **params)
ENTRY_POINT_PARAMS_TAG = "mlgate.entry_point.params"  # JSON of the params
CODE_DIFF_ARTIFACT = "mlgate/code.diff"  # `git diff HEAD` when the code revision is -dirty
TRANSFORM_TESTS_TAG = "mlgate.transform_tests"  # passed | failed
