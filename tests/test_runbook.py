"""`mlgate runbook` writes the rollback checklist's answers as Markdown for an on-call wiki."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from mlgate import api
from mlgate.cli import main
from mlgate.config import Settings
from mlgate.registry import Registry
from tests.rollout_support import (
    IRREVERSIBLE,
    WEDNESDAY_10H,
    pass_gate,
    production_and_candidate,
    register,
    write_owners,
)


def test_runbook_holds_every_answer_and_the_command(registry: Registry, model_uri: str, tmp_path: Path) -> None:
    write_owners(registry.settings)
    v1, v2 = production_and_candidate(registry, "m", model_uri, tmp_path, data_migrations=[IRREVERSIBLE])
    api.promote("m", v2, "production", registry=registry)
    book = api.runbook("m", now=WEDNESDAY_10H, registry=registry)
    text = book.markdown
    assert book.ready and text.startswith("# Rollback runbook: m")
    assert f"## 1. Last known good: v{v1}" in text and "smoke test passed" in text
    assert "## 2. How traffic goes back" in text and "production" in text
    assert "drop-legacy-table" in text and "IRREVERSIBLE" in text and "--accept-irreversible" in text
    assert "alice@example.com" in text and "business hours" in text
    assert "## 5. Smoke test that proves it" in text and "mlgate smoke m" in text
    assert "`mlgate rollback m --accept-irreversible`" in text and "make rollback MODEL=m" in text
    assert "dry run" not in text


def test_runbook_says_when_no_rollback_is_possible(cli_env: Settings, model_uri: str, tmp_path: Path) -> None:
    registry = Registry.from_settings(cli_env)
    v1 = register(registry, "m", model_uri, tmp_path)
    pass_gate(registry, "m", v1, "production")
    api.promote("m", v1, "production", registry=registry)
    out = tmp_path / "wiki" / "m.md"
    out.parent.mkdir()
    result = CliRunner().invoke(main, ["runbook", "m", "-o", str(out)])
    assert result.exit_code == 1 and "not possible" in result.output
    assert "no last known good version" in out.read_text()
