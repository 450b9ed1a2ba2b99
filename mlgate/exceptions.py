"""The one exception hierarchy of mlgate: every user-facing error says what went wrong and what to do.

    MlgateError                      exit 1 (a known error; the message is for a person)
    ├── ConfigError                  configuration file or environment is wrong
    ├── CardError                    a model card is missing fields or malformed
    ├── ContractError                a data contract file is malformed, or data breaks it
    ├── PolicyError                  the release policy file is malformed
    ├── RegistryError                the MLflow registry refused or failed
    │   ├── RegistryUnavailable      the tracking server cannot be reached
    │   ├── PermissionDenied         the registry refused for lack of permission
    │   ├── ModelNotFound            no registered model of that name
    │   └── VersionNotFound          no such version of the model
    ├── LockHeld                     another operation holds the model's lock
    ├── TransitionRefused            a promotion or rollout step is not allowed
    │   └── GateFailed               the release gate has not passed for the stage
    ├── ApprovalRefused              this person may not approve or reject this version (now)
    ├── TrafficError                 a traffic router failed a move or reads back something else
    ├── RollbackError                no valid rollback target, or rollback refused
    ├── SmokeTestFailed              the post-deploy smoke test failed
    ├── ReproduceError               the model version cannot be reproduced
    ├── TrainingError                a training record cannot be made (tests failed, package missing)
    ├── ServingError                 the gateway cannot start or load a model
    ├── MetricSourceError            a metric source (Prometheus) refused a query or gave an unusable answer
    │   └── MetricSourceUnavailable  the metric source did not answer (analysis is then inconclusive)
    ├── NotRecorded                  the prediction record holds no such request
    └── MissingDependency            an optional extra is not installed, or MLflow is outside the range

Exit codes are a CI contract: 0 passed, 1 a known error or failed gate, 2 usage, 3 a bug.
"""

from __future__ import annotations


class MlgateError(Exception):
    """Base of every error mlgate raises on purpose; ``hint`` says what to do next."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  -> {self.hint}"
        return self.message


class ConfigError(MlgateError):
    """The configuration (mlflow_config/*.yaml or MLGATE_* / MLFLOW_* variables) is wrong."""


class CardError(MlgateError):
    """A model card is missing required fields or has malformed ones."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"model card {path} has {len(problems)} problem(s):\n{lines}",
            "fix the card and run the command again; nothing was written",
        )


class ContractError(MlgateError):
    """A data contract is malformed, or data does not satisfy it."""


class PolicyError(MlgateError):
    """The release policy file is malformed or names an unknown check."""


class RegistryError(MlgateError):
    """The MLflow registry refused an operation or failed."""


class RegistryUnavailable(RegistryError):
    """The tracking server could not be reached."""


class PermissionDenied(RegistryError):
    """The registry refused the operation for lack of permission."""


class ModelNotFound(RegistryError):
    """No registered model has this name."""


class VersionNotFound(RegistryError):
    """The registered model has no such version."""


class LockHeld(MlgateError):
    """Another mlgate operation holds the model's lock."""


class TransitionRefused(MlgateError):
    """A stage transition is not allowed."""


class GateFailed(TransitionRefused):
    """The release gate has not passed for the target stage."""


class ApprovalRefused(MlgateError):
    """An approval or rejection is not allowed: no approval asked for, not an approver, four eyes, already given."""


class TrafficError(MlgateError):
    """A traffic router (load balancer, mesh) failed a move, or reads back something other than it was told."""


class RollbackError(MlgateError):
    """There is no valid rollback target, or the rollback was refused."""


class SmokeTestFailed(MlgateError):
    """The post-deploy smoke test failed."""


class ReproduceError(MlgateError):
    """The model version cannot be reproduced."""


class TrainingError(MlgateError):
    """A training run cannot be recorded: transform tests failed, a package cannot be pinned, ..."""


class ServingError(MlgateError):
    """The gateway cannot start or cannot load a model."""


class MetricSourceError(MlgateError):
    """A metric source (Prometheus) refused a query, or answered something analysis cannot use (several series)."""


class MetricSourceUnavailable(MetricSourceError):
    """A metric source did not answer (down, unreachable, timed out): canary analysis is inconclusive, not failed."""


class NotRecorded(MlgateError):
    """The gateway's prediction record holds no such request (never answered, or trimmed since)."""


class MissingDependency(MlgateError):
    """A feature's extra is not installed, or the installed MLflow is outside the supported range."""


class MissingExtraError(MissingDependency):
    """A feature needs an optional extra (``pip install 'mlgate[serve]'``) that is not installed."""

    def __init__(self, extra: str, feature: str, module: str) -> None:
        self.extra = extra
        self.module = module
        install = f"pip install 'mlgate[{extra}]'"
        super().__init__(f"{feature} needs the {extra} extra ({module} is not installed): {install}")


class UsageError(MlgateError):
    """The command was called with invalid arguments."""

    exit_code = 2
