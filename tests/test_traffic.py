"""The traffic seam: promote, every rollout step and rollback move traffic only through the TrafficRouter,
in a known order, and the registry's aliases agree with the router afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlgate import api
from mlgate.exceptions import ConfigError, TrafficError, TransitionRefused
from mlgate.registry import Registry, keys
from mlgate.traffic import InMemoryRouter, Move, RecordedRouter, RegistryRouter, TrafficState, router_for
from tests.rollout_support import pass_gate, register


def _new_moves(router: InMemoryRouter, seen: list[int]) -> list[str]:
    """The moves the router received since the last call, as text."""
    moves = [str(m) for m in router.moves[seen[0] :]]
    seen[0] = len(router.moves)
    return moves


def _agrees(registry: Registry, router: InMemoryRouter) -> None:
    assert RegistryRouter(registry, "m").state() == router.state()


@pytest.fixture
def steps_policy(registry: Registry) -> None:
    assert registry.settings.config_dir is not None
    policy = {"steps": [10, 50, 100], "bake": "60s", "min_requests": 50}
    (registry.settings.config_dir / "rollout.yaml").write_text(yaml.safe_dump(policy))


def _candidate(registry: Registry, model_uri: str, folder: Path) -> str:
    version = register(registry, "m", model_uri, folder)
    pass_gate(registry, "m", version, "staging", "canary", "production")
    return version


@pytest.mark.usefixtures("steps_policy")
def test_promote_rollout_and_rollback_move_traffic_only_through_the_router(
    registry: Registry, model_uri: str, tmp_path: Path
) -> None:
    router = InMemoryRouter()
    seen = [0]

    v1 = _candidate(registry, model_uri, tmp_path)
    api.promote("m", v1, "production", registry=registry, router=router)
    assert _new_moves(router, seen) == [f"set_production({v1})"]
    _agrees(registry, router)

    v2 = _candidate(registry, model_uri, tmp_path)
    api.promote("m", v2, "staging", registry=registry, router=router)
    assert _new_moves(router, seen) == []  # staging is a label, not traffic

    api.rollout_start("m", v2, registry=registry, router=router)
    assert _new_moves(router, seen) == [f"set_canary({v2}, 10.0)"]
    _agrees(registry, router)

    api.rollout_pause("m", registry=registry)
    assert _new_moves(router, seen) == []  # a pause holds the weight

    api.rollout_resume("m", registry=registry, router=router)
    assert _new_moves(router, seen) == [f"set_canary({v2}, 10.0)"]

    status = api.rollout_advance("m", registry=registry, router=router)
    assert _new_moves(router, seen) == [f"set_canary({v2}, 50.0)"]
    assert status.weight == 50.0  # rollout status reads the router's view
    _agrees(registry, router)

    api.rollout_advance("m", registry=registry, router=router)  # past the last step: the canary becomes production
    assert _new_moves(router, seen) == [f"promote_canary({v2})"]
    _agrees(registry, router)
    aliases = registry.aliases("m")
    assert aliases["production"] == v2 and aliases["last-known-good"] == v1 and "staging" not in aliases
    assert registry.version("m", v1).tags[keys.STATUS] == "archived"

    v3 = _candidate(registry, model_uri, tmp_path)
    api.rollout_start("m", v3, registry=registry, router=router)
    api.rollout_abort("m", reason="bad canary", registry=registry, router=router)
    assert _new_moves(router, seen) == [f"set_canary({v3}, 10.0)", "clear_canary()"]
    _agrees(registry, router)
    assert registry.version("m", v3).tags[keys.STATUS] == "failed"

    result = api.rollback("m", reason="incident 7", registry=registry, router=router)
    assert result.plan.to_version == v1
    assert _new_moves(router, seen) == [f"set_production({v1})"]
    _agrees(registry, router)
    tags = registry.version("m", v2).tags
    assert tags[keys.STATUS] == "rolled-back" and tags[keys.ROLLED_BACK_REASON] == "incident 7"
    assert registry.version("m", v1).tags[keys.HELD_PRODUCTION] == "true"


@pytest.mark.usefixtures("steps_policy")
def test_rollback_during_a_rollout_takes_the_canary_out_first(
    registry: Registry, model_uri: str, tmp_path: Path
) -> None:
    router = InMemoryRouter()
    v1 = _candidate(registry, model_uri, tmp_path)
    api.promote("m", v1, "production", registry=registry, router=router)
    v2 = _candidate(registry, model_uri, tmp_path)
    api.rollout_start("m", v2, registry=registry, router=router)
    api.rollout_advance("m", registry=registry, router=router)
    before = len(router.moves)

    api.rollback("m", registry=registry, router=router)

    assert [str(m) for m in router.moves[before:]] == ["clear_canary()"]
    assert router.state() == TrafficState(production=v1)
    _agrees(registry, router)


def test_a_router_that_fails_leaves_the_registry_as_it_was_and_the_command_can_run_again(
    registry: Registry, model_uri: str, tmp_path: Path
) -> None:
    router = InMemoryRouter()
    v1 = _candidate(registry, model_uri, tmp_path)
    api.promote("m", v1, "production", registry=registry, router=router)
    v2 = _candidate(registry, model_uri, tmp_path)

    router.fail_on = {"set_production"}
    with pytest.raises(TransitionRefused):
        api.promote("m", v2, "production", registry=registry, router=router)
    assert registry.aliases("m")["production"] == v1  # the record did not move ahead of the traffic
    assert router.state().production == v1
    started = registry.events("m")[0]
    assert (started.action, started.result, started.to_version) == ("promote-production", "started", v2)

    router.fail_on = set()
    result = api.promote("m", v2, "production", registry=registry, router=router)
    assert result.op_id == started.op_id and result.previous == v1  # the same operation, finished
    assert registry.aliases("m")["production"] == v2 == router.state().production
    assert registry.version("m", v1).tags[keys.STATUS] == "archived"


class LyingRouter(InMemoryRouter):
    """Accepts every move and reports production never changed (a load balancer that did not apply it)."""

    def state(self) -> TrafficState:
        return TrafficState(production="1")


def test_a_router_that_reads_back_something_else_is_refused_before_the_registry_moves(
    registry: Registry, model_uri: str, tmp_path: Path
) -> None:
    v1 = _candidate(registry, model_uri, tmp_path)
    api.promote("m", v1, "production", registry=registry)
    v2 = _candidate(registry, model_uri, tmp_path)
    with pytest.raises(TrafficError, match=f"make v{v2} production but reports production v1"):
        api.promote("m", v2, "production", registry=registry, router=LyingRouter())
    assert registry.aliases("m")["production"] == v1


def make_router(settings: object, name: str) -> InMemoryRouter:
    """A router factory named in mlgate.yaml by the test below (module:factory)."""
    return InMemoryRouter(production=None, moves=[Move("built-for", name)])


def test_the_router_is_chosen_from_settings(registry: Registry) -> None:
    assert isinstance(router_for(registry, "m"), RegistryRouter)  # the built-in default

    chosen = router_for(
        Registry(registry.client, registry.settings.with_overrides(traffic_router=f"{__name__}:make_router")), "m"
    )
    assert isinstance(chosen, RecordedRouter) and isinstance(chosen.router, InMemoryRouter)
    assert chosen.router.moves == [Move("built-for", "m")]

    passed = InMemoryRouter()
    assert router_for(registry, "m", passed).router is passed  # type: ignore[attr-defined]

    for bad, message in (("no-such-router", "not a known router"), ("tests.nowhere:factory", "cannot be loaded")):
        broken = Registry(registry.client, registry.settings.with_overrides(traffic_router=bad))
        with pytest.raises(ConfigError, match=message):
            router_for(broken, "m")
