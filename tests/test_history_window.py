"""Point in time stays fast on a long history: `status --at`, `which` and a webhook revert read a bounded slice."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from bulk_history_support import CYCLE, CountingSearch, bulk_insert, rollout_cycles
from rollout_support import production_and_candidate, store

from mlgate import api
from mlgate.config.settings import ProtectedAliases
from mlgate.registry import Registry, timeline
from mlgate.team.webhooks import process_delivery

NAME = "long-history"


def _moments(first: float, count: int) -> dict[str, float]:
    """Moments inside the bulk history's last full cycle: during the 10 % step, the 50 % step, after the rollback."""
    start = first + (count - 2 * CYCLE) * 1.0  # events 1 s apart, cycles of CYCLE events
    return {"canary10": start + 2.5, "canary50": start + 6.5, "rolled-back": start + CYCLE - 0.5}


def _alias_payload(alias: str, version: str) -> dict[str, object]:
    data = {"name": NAME, "alias": alias, "version": version}
    stamp = datetime.now().astimezone().isoformat()
    return {"entity": "model_version_alias", "action": "created", "timestamp": stamp, "data": data}


def test_status_at_which_and_a_revert_read_as_much_at_2000_events_as_at_200(
    registry: Registry, model_uri: str, tmp_path: Path
) -> None:
    protected = ProtectedAliases(production="revert", canary="revert")
    registry = Registry.from_settings(registry.settings.with_overrides(protected_aliases=protected))
    v1, v2 = production_and_candidate(registry, NAME, model_uri, tmp_path)
    db = registry.settings.tracking_uri.removeprefix("sqlite:///")
    first, _ = bulk_insert(db, NAME, list(rollout_cycles(NAME, 200, v1, v2)))
    moments = _moments(first, 200)
    record = store(registry.settings)
    record.record(NAME, v2, "canary", 200, 4.0, ts=moments["canary50"], request_id="req-bulk-canary")
    record.close()

    reads: dict[int, dict[str, int]] = {}
    for size, more in ((200, 0), (2000, 1800)):
        if more:  # ten times the history, all of it older: the moments asked about stay where they were
            bulk_insert(db, NAME, list(rollout_cycles(NAME, more, v1, v2)))
        full = timeline.load(registry, NAME)  # the whole history folded: the answer to match
        reads[size] = {}
        for label, moment in moments.items():
            with CountingSearch(registry.client) as counted:
                report = api.status(NAME, registry=registry, at=moment)
            reads[size][label] = counted.runs
            expected = full.state_at(moment)
            assert report.at is not None and report.aliases == expected.aliases, label
            assert report.at.canary_weight == expected.canary_weight
            assert {a: t.op_id for a, t in report.at.set_by.items()} == {a: t.op_id for a, t in expected.set_by.items()}
        assert (
            reads[size]["canary10"]
            and api.status(NAME, registry=registry, at=moments["canary10"]).canary_weight == "10"
        )
        assert api.status(NAME, registry=registry, at=moments["rolled-back"]).aliases["production"] == v1

        with CountingSearch(registry.client) as counted:
            answer = api.which(NAME, "req-bulk-canary", registry=registry)
        reads[size]["which"] = counted.runs
        assert (answer.version, answer.route, answer.state.canary_weight) == (v2, "canary", 50)
        assert answer.transition is not None and answer.transition.action == "rollout-step"

        registry.client.set_registered_model_alias(NAME, "production", v2)  # a raw move, outside mlgate
        with CountingSearch(registry.client) as counted:
            done = process_delivery(registry, _alias_payload("production", v2), f"d-{size}", slack=0.1)
        reads[size]["revert"] = counted.runs
        assert (done.managed, done.restored) == (False, v1), done.why
        assert registry.aliases(NAME)["production"] == v1

    assert len(timeline.load(registry, NAME).transitions) > 2000 - 2000 // CYCLE * 6  # the history did grow
    for what, runs in reads[200].items():  # bounded: the same reads whatever lies further back
        assert reads[2000][what] <= runs + 10, (what, reads)
        assert reads[2000][what] < 150, (what, reads)
