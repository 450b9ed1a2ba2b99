"""Contracts bound to versions: two versions logged from one run keep their own contract."""

from __future__ import annotations

from pathlib import Path

import yaml

from mlgate import api
from mlgate.contracts import contract_of_version, load_contract
from mlgate.registry import Registry

IRIS = Path(__file__).parent / "data" / "iris_contract.yaml"


def test_versions_from_one_run_keep_their_own_contract(
    registry: Registry, model_uri: str, card_path: Path, tmp_path: Path
) -> None:
    data = yaml.safe_load(IRIS.read_text())
    data["version"] = "2.0.0"
    data["columns"][3]["range"]["max"] = 4.0
    v2_contract = tmp_path / "iris_v2.yaml"
    v2_contract.write_text(yaml.safe_dump(data, sort_keys=False))
    first = api.register("iris", model_uri, card_path, contract=IRIS, registry=registry).version
    second = api.register("iris", model_uri, card_path, contract=v2_contract, registry=registry).version
    bound_first = contract_of_version(registry, "iris", first)
    bound_second = contract_of_version(registry, "iris", second)
    assert bound_first is not None and bound_second is not None
    assert bound_first.sha256 == load_contract(IRIS).sha256 and bound_first.version == "1.0.0"
    assert bound_second.sha256 == load_contract(v2_contract).sha256 and bound_second.version == "2.0.0"
