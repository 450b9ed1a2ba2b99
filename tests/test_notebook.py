"""The training notebook runs top to bottom against a temporary registry and leaves a gated, reproducible version."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import yaml
from nbclient import NotebookClient

from mlgate.registry import Registry, keys
from mlgate.testing import throwaway_settings

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "pipelines" / "notebooks" / "train_and_register.ipynb"


def outputs(cell) -> str:
    texts = []
    for out in cell.get("outputs", []):
        texts.append(out.get("text", ""))
        texts.extend(str(v) for k, v in out.get("data", {}).items() if k in ("text/plain", "text/html"))
    return "\n".join(texts)


def test_the_notebook_trains_registers_gates_and_reproduces(tmp_path, monkeypatch):
    config = tmp_path / "mlflow_config"
    config.mkdir()
    shutil.copy(ROOT / "mlflow_config" / "policy.yaml", config / "policy.yaml")
    settings = throwaway_settings(tmp_path / "store", config_dir=config)
    (config / "mlgate.yaml").write_text(
        yaml.safe_dump({"tracking_uri": settings.tracking_uri, "artifact_root": settings.artifact_root})
    )
    monkeypatch.setenv("MLGATE_CONFIG_DIR", str(config))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    calls = [
        line
        for cell in notebook.cells
        if cell.cell_type == "code"
        for line in cell.source.splitlines()
        if any(
            call in line
            for call in ("training.track(", "run.log_data(", "run.log_model(", "run.register(", "api.check(")
        )
    ]
    assert len(calls) <= 5  # from a trained model to a registered, gated version in five mlgate calls
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()

    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert "registered breast-cancer v1" in outputs(code[1])
    assert "<table" in outputs(code[2])  # the gate report renders as HTML
    assert "reproduced: True" in outputs(code[3])
    version = Registry.from_settings(settings).version("breast-cancer", "1")
    assert version.tags[keys.gate_tag("staging")] == "passed"
    assert version.tags[keys.TRAINING_DATA_SHA256]
