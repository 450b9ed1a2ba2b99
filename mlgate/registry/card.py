"""The model card: required fields checked at register and at promote, stored as a file beside the version.

The whole card is the version's file ``model_card.yaml`` (keys.CARD_ARTIFACT), read once per process
(a version's card never changes); the fields people filter on (owner, intended use, training data)
are also scalar version tags. Versions written before this kept the card as JSON in the tag
``mlgate.card``: it is read first while it is there, and ``mlgate migrate`` removes it.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mlgate.config.files import read_yaml
from mlgate.exceptions import CardError
from mlgate.registry import keys, version_files

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

    from mlgate.registry.client import Registry

REQUIRED = ("owner", "intended_use", "description", "training_data")
OPTIONAL = ("limitations", "contact", "on_call", "data_migrations", "name")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class DataMigration:
    """A change to data or schema a release depends on, and whether it can be undone."""

    name: str
    reversible: bool
    description: str = ""


@dataclass(frozen=True)
class ModelCard:
    """What a person needs to know about a model version before it reaches production."""

    owner: str
    intended_use: str
    description: str
    training_data_name: str
    training_data_sha256: str
    limitations: str = ""
    contact: str = ""
    on_call: str = ""
    data_migrations: tuple[DataMigration, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "owner": self.owner,
            "intended_use": self.intended_use,
            "description": self.description,
            "training_data": {"name": self.training_data_name, "sha256": self.training_data_sha256},
        }
        for key in ("limitations", "contact", "on_call"):
            if getattr(self, key):
                data[key] = getattr(self, key)
        if self.data_migrations:
            data["data_migrations"] = [asdict(m) for m in self.data_migrations]
        return data

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def to_tags(self) -> dict[str, str]:
        """The version tags people filter on in the MLflow UI (the whole card is a file: keys.CARD_ARTIFACT)."""
        return {
            keys.OWNER: self.owner,
            keys.INTENDED_USE: self.intended_use[:5000],
            keys.TRAINING_DATA_NAME: self.training_data_name,
            keys.TRAINING_DATA_SHA256: self.training_data_sha256,
        }

    def to_markdown(self) -> str:
        """The card as the version's description, shown on the version page of the MLflow UI."""
        lines = [
            self.description.strip(),
            "",
            f"**Owner:** {self.owner}",
            f"**Intended use:** {self.intended_use.strip()}",
            f"**Training data:** {self.training_data_name} (sha256 `{self.training_data_sha256}`)",
        ]
        if self.limitations:
            lines.append(f"**Limitations:** {self.limitations.strip()}")
        if self.contact:
            lines.append(f"**Contact:** {self.contact}")
        if self.on_call:
            lines.append(f"**On call:** {self.on_call}")
        for m in self.data_migrations:
            kind = "reversible" if m.reversible else "IRREVERSIBLE"
            lines.append(f"**Data migration:** {m.name} ({kind}) {m.description}".rstrip())
        return "\n".join(lines)


def _text(data: dict[str, Any], key: str, problems: list[str], required: bool) -> str:
    value = data.get(key)
    if value is None:
        if required:
            problems.append(f"{key}: missing (required)")
        return ""
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{key}: must be a non-empty text, got {value!r}")
        return ""
    return value.strip()


def parse_card(data: Any, source: str = "<card>") -> ModelCard:
    """Check a card's fields and build it; every problem is reported at once in one CardError."""
    if not isinstance(data, dict):
        raise CardError(source, [f"the card must be a mapping of fields, got {type(data).__name__}"])
    problems: list[str] = []
    unknown = sorted(map(str, set(data) - set(REQUIRED) - set(OPTIONAL)))  # YAML keys may be numbers
    if unknown:
        problems.append(f"unknown field(s): {', '.join(map(str, unknown))} (known: {', '.join(REQUIRED + OPTIONAL)})")
    owner = _text(data, "owner", problems, True)
    intended_use = _text(data, "intended_use", problems, True)
    description = _text(data, "description", problems, True)
    limitations = _text(data, "limitations", problems, False)
    contact = _text(data, "contact", problems, False)
    on_call = _text(data, "on_call", problems, False)

    td_name = td_sha = ""
    training = data.get("training_data")
    if training is None:
        problems.append("training_data: missing (required: name and sha256 of the full content)")
    elif not isinstance(training, dict):
        problems.append("training_data: must be a mapping with name and sha256")
    else:
        td_name = _text(training, "name", [], True)
        if not td_name:
            problems.append("training_data.name: missing or empty")
        sha = training.get("sha256")
        if not isinstance(sha, str) or not _SHA256.match(sha.strip().lower()):
            problems.append(
                f"training_data.sha256: must be 64 hex characters (sha256 of the full content), got {sha!r}"
            )
        else:
            td_sha = sha.strip().lower()

    migrations: list[DataMigration] = []
    raw_migrations = data.get("data_migrations")
    if raw_migrations is not None:
        if not isinstance(raw_migrations, list):
            problems.append("data_migrations: must be a list of {name, reversible, description}")
        else:
            for i, item in enumerate(raw_migrations):
                where = f"data_migrations[{i}]"
                if not isinstance(item, dict):
                    problems.append(f"{where}: must be a mapping with name and reversible")
                    continue
                name = item.get("name")
                if not isinstance(name, str) or not name.strip():
                    problems.append(f"{where}.name: missing or empty")
                reversible = item.get("reversible")
                if not isinstance(reversible, bool):
                    problems.append(f"{where}.reversible: must be true or false, got {reversible!r}")
                if isinstance(name, str) and isinstance(reversible, bool):
                    migrations.append(DataMigration(name.strip(), reversible, str(item.get("description", "")).strip()))

    if problems:
        raise CardError(source, problems)
    return ModelCard(
        owner=owner,
        intended_use=intended_use,
        description=description,
        training_data_name=td_name,
        training_data_sha256=td_sha,
        limitations=limitations,
        contact=contact,
        on_call=on_call,
        data_migrations=tuple(migrations),
    )


def load_card(path: str | Path) -> ModelCard:
    """Read and check a CARD.yaml file."""
    return parse_card(read_yaml(path, error=CardError), str(path))


NO_CARD = "no model card is stored with the version (register it with `mlgate register --card`)"
_READ: dict[tuple[str, str, str, int], tuple[ModelCard | None, list[str]]] = {}  # per process: cards never change


def stored_card(registry: Registry, mv: ModelVersion) -> tuple[ModelCard | None, list[str]]:
    """The card stored with a version and what is missing from it ((None, problems) when it is incomplete).

    The old JSON tag while it is there, else the version's card file, read once per process."""
    tags = dict(mv.tags or {})
    if tags.get(keys.CARD):
        return card_from_tags(tags), card_problems(tags)
    cache = (registry.settings.registry_uri, mv.name, str(mv.version), int(mv.creation_timestamp or 0))
    if cache in _READ:
        return _READ[cache]
    text = version_files.read_text(registry, mv, keys.CARD_ARTIFACT)
    if text is None:
        return None, [NO_CARD]  # not cached: an unreachable store must not stick
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        _READ[cache] = None, [f"the stored card ({keys.CARD_ARTIFACT}) is not valid YAML"]
        return _READ[cache]
    try:
        _READ[cache] = parse_card(data, "the stored card"), []
    except CardError as exc:
        _READ[cache] = None, exc.problems
    return _READ[cache]


def card_from_tags(tags: dict[str, str]) -> ModelCard | None:
    """The card in a version's old ``mlgate.card`` tag (before `mlgate migrate`), or None."""
    raw = tags.get(keys.CARD)
    if not raw:
        return None
    try:
        return parse_card(json.loads(raw), "the card stored on the version")
    except (ValueError, CardError):
        return None


def card_problems(tags: dict[str, str]) -> list[str]:
    """What is missing from the card in a version's old ``mlgate.card`` tag (empty when it is complete)."""
    raw = tags.get(keys.CARD)
    if not raw:
        return [NO_CARD]
    try:
        parse_card(json.loads(raw), "the stored card")
    except ValueError:
        return ["the stored card is not valid JSON"]
    except CardError as exc:
        return exc.problems
    return []
