"""The model card: every problem reported at once, before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mlgate.exceptions import CardError
from mlgate.registry import keys
from mlgate.registry.card import card_from_tags, card_problems, load_card, parse_card
from mlgate.testing import card_dict, write_card


def test_a_complete_card_loads_and_round_trips_through_the_old_tag(tmp_path: Path) -> None:
    card = load_card(write_card(tmp_path / "card.yaml"))
    assert card.owner == "ml-platform@example.com"
    assert len(card.training_data_sha256) == 64
    old = {keys.CARD: json.dumps(card.to_dict(), sort_keys=True)}  # as versions registered before kept it
    assert card_from_tags(old) == card
    assert card_problems(old) == []
    assert all(len(v) < 300 and not v.startswith(("{", "[")) for v in card.to_tags().values())  # scalars only
    assert "Owner" in card.to_markdown()


def test_every_problem_is_listed_in_one_error(tmp_path: Path) -> None:
    data = card_dict(owner="", training_data={"name": "x", "sha256": "abc"}, colour="blue")
    del data["intended_use"]
    path = tmp_path / "card.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(CardError) as err:
        load_card(path)
    text = str(err.value)
    assert str(path) in text
    assert "owner" in text
    assert "intended_use: missing" in text
    assert "training_data.sha256" in text
    assert "unknown field(s): colour" in text
    assert len(err.value.problems) == 4


def test_data_migrations_must_say_whether_they_are_reversible() -> None:
    with pytest.raises(CardError) as err:
        parse_card(card_dict(data_migrations=[{"name": "drop column x"}, "oops"]))
    assert any("reversible" in p for p in err.value.problems)
    assert any("data_migrations[1]" in p for p in err.value.problems)
    card = parse_card(card_dict(data_migrations=[{"name": "add col", "reversible": False}]))
    assert card.data_migrations[0].reversible is False


def test_unreadable_and_non_yaml_cards_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CardError, match="cannot read"):
        load_card(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("owner: [unclosed")
    with pytest.raises(CardError, match="not valid YAML"):
        load_card(bad)
    bad.write_text("just a string")
    with pytest.raises(CardError, match="mapping"):
        load_card(bad)


def test_card_problems_on_a_version_registered_without_mlgate() -> None:
    assert "no model card" in card_problems({})[0]
