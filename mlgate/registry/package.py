"""A version's model package: download the exact MLflow model of a registered version and load it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.exceptions import RegistryError
from mlgate.registry import first_line, mlflow_uris

if TYPE_CHECKING:
    from mlgate.registry import Registry


@dataclass
class ModelPackage:
    """A version's MLflow model downloaded to a local folder, with its pyfunc and input example."""

    name: str
    version: str
    path: Path
    model: Any  # mlflow.pyfunc.PyFuncModel
    input_example: Any  # pandas DataFrame or None
    signature: Any


def download_package(registry: Registry, name: str, version: str, dst: str | Path) -> Path:
    """Download the exact model package of a version into ``dst``; returns its folder."""
    registry.version(name, version)
    with mlflow_uris(registry.settings):
        return Path(
            registry.call(
                f"downloading the model of {name} v{version}", _download, f"models:/{name}/{version}", str(dst)
            )
        )


def open_package(name: str, version: str, local: Path) -> ModelPackage:
    """Load a downloaded model package: its pyfunc, input example and signature; errors name what failed."""
    from mlflow.models import Model
    from mlflow.pyfunc import load_model

    try:
        meta = Model.load(str(local))
        example = meta.load_input_example(str(local))
        model = load_model(str(local))
    except Exception as exc:  # noqa: BLE001 - a broken package fails in many ways
        raise RegistryError(
            f"the model of {name} v{version} does not load: {type(exc).__name__}: {first_line(exc)}",
            "its artifacts are missing or corrupt; register a new version",
        ) from None
    return ModelPackage(name, str(version), local, model, example, meta.signature)


def load_package(registry: Registry, name: str, version: str, dst: str | Path) -> ModelPackage:
    """Download the exact model package of a version and load it."""
    return open_package(name, version, download_package(registry, name, version, dst))


def _download(uri: str, dst: str) -> str:
    from mlflow.artifacts import download_artifacts

    return str(download_artifacts(artifact_uri=uri, dst_path=dst))
