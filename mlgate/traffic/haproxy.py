"""Traffic through HAProxy: each version's pool of pinned gateways is a group of servers of a backend, split by weight.

The layout (docs/guides/haproxy.md): one HAProxy backend per model (``haproxy.backend``, default
``mlgate_{model}``); in it, the pool of version V is every server named ``v{V}`` or ``v{V}_<suffix>``
(``haproxy.server``), each a gateway started with ``mlgate serve NAME --version V``. A move sets the
weight of every pool server at once over the runtime API (``set weight``), then reads them back
(``show servers state``): the canary's share is its pool's weight over the backend's. HAProxy holds
the split, not which version is production: those labels come from this router's own last move, else
from the registry, which stays the record. HAProxy cannot mirror requests, so a shadow step is refused.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from fractions import Fraction
from typing import TYPE_CHECKING

from mlgate.exceptions import ConfigError, TrafficError, TransitionRefused
from mlgate.registry import Registry
from mlgate.traffic.haproxy_api import MAINTENANCE, MAX_WEIGHT, RuntimeAPI, Server
from mlgate.traffic.registry_router import RegistryRouter, check_weight
from mlgate.traffic.router import TrafficState

if TYPE_CHECKING:
    from mlgate.config import Settings

Labels = Callable[[], TrafficState]  # the record's production and canary (the registry's aliases)


def pool_weights(shares: dict[str, Fraction], sizes: dict[str, int]) -> dict[str, int]:
    """The weight of each server of each pool so that pool ``v`` (``sizes[v]`` servers) gets exactly
    ``shares[v]`` of the traffic; readable where it can be (10 % to one server and 90 % to another: 10 and 90).

    A split HAProxy's integer weights (0 to 256) cannot make exactly is refused: a rollout never moves
    traffic it cannot read back.
    """
    live = {v: s for v, s in shares.items() if s > 0}
    if not live:
        return {v: 0 for v in shares}
    denominator = math.lcm(*(s.denominator for s in live.values()))
    parts = {v: int(s * denominator) for v, s in live.items()}  # pool v's total is parts[v] * t
    t = math.lcm(*(sizes[v] // math.gcd(sizes[v], parts[v]) for v in live))
    per_server = {v: parts[v] * t // sizes[v] for v in live}
    common = math.gcd(*per_server.values())
    per_server = {v: w // common for v, w in per_server.items()}
    total = sum(per_server[v] * sizes[v] for v in live)
    top = max(per_server.values())
    if top > MAX_WEIGHT:
        split = ", ".join(f"{float(s) * 100:g}% to {sizes[v]} server(s) of v{v}" for v, s in live.items())
        raise TransitionRefused(
            f"HAProxy cannot split traffic exactly as {split}: its weights are whole numbers from 0 to {MAX_WEIGHT}",
            "use steps that are whole percents or halves (5, 12.5, 25, 50), or pools of fewer servers",
        )
    scale = max(1, min(100 // total if total <= 100 else 1, MAX_WEIGHT // top))
    return {v: per_server.get(v, 0) * scale for v in shares}


class HAProxyRouter:
    """Moves a model's traffic between version pools by setting server weights over HAProxy's runtime API."""

    def __init__(self, api: RuntimeAPI, backend: str, server: str = "v{version}", labels: Labels | None = None) -> None:
        if "{version}" not in server:
            raise ConfigError(
                f"haproxy.server {server!r} does not contain {{version}}",
                "write a server name pattern such as v{version}",
            )
        self.api = api
        self.backend = backend
        self.server = server
        head, _, tail = server.partition("{version}")
        self._name = re.compile(rf"^{re.escape(head)}(?P<version>[0-9]+){re.escape(tail)}(?:_.+)?$")
        self._labels = labels
        self._known: tuple[str | None, str | None] | None = None  # (production, canary) after this router's move

    # --- reading -------------------------------------------------------------------------------------------
    def version_of(self, server: str) -> str | None:
        """The version whose pool holds ``server`` (None for a server outside every pool)."""
        found = self._name.match(server)
        return found.group("version") if found else None

    def pools(self) -> dict[str | None, list[Server]]:
        """The backend's servers by version (key None: servers outside every pool), as HAProxy reports them now."""
        pools: dict[str | None, list[Server]] = {}
        for server in self.api.servers(self.backend):
            pools.setdefault(self.version_of(server.name), []).append(server)
        return pools

    def labels(self) -> tuple[str | None, str | None]:
        """(production, canary): after a move of this router, what it was told; else the record's."""
        if self._known is None:
            seen = self._labels() if self._labels is not None else TrafficState(None)
            self._known = (seen.production, seen.canary)
        return self._known

    def split(self, pools: dict[str | None, list[Server]] | None = None) -> dict[str | None, Fraction]:
        """Each pool's share of the backend's traffic (servers in maintenance take none)."""
        pools = self.pools() if pools is None else pools
        totals = {v: sum(s.weight for s in pool if not s.admin_state & MAINTENANCE) for v, pool in pools.items()}
        total = sum(totals.values())
        return {v: Fraction(w, total) if total else Fraction(0) for v, w in totals.items()}

    def state(self) -> TrafficState:
        pools = self.pools()
        split = self.split(pools)
        production, canary = self.labels()
        stray = {v: s for v, s in split.items() if s > 0 and v not in (production, canary)}
        if stray:
            where = ", ".join(
                f"{float(s) * 100:g}% to " + (f"v{v}" if v else "servers outside every version's pool")
                for v, s in stray.items()
            )
            raise TrafficError(
                f"HAProxy backend {self.backend!r} sends {where}, but production is "
                f"{'v' + production if production else 'none'} and the canary "
                f"{'v' + canary if canary else 'none'}",
                "run the rollout or rollback command again to set the weights, or set them with `set weight`",
            )
        share = float(split.get(canary, 0) * 100) if canary else 0.0
        shown_canary = canary if share > 0 else None
        answers = split.get(production, 0) > 0 or (shown_canary is not None and share == 100)
        return TrafficState(
            production if production and answers else None, shown_canary, share if shown_canary else 0.0
        )

    def view(self) -> str:
        """Each pool's share and servers as HAProxy reports them, e.g. ``v1 90% (v1 UP w90), v2 10% (v2 UP w10)``."""
        pools = self.pools()
        split = self.split(pools)
        parts = []
        for version, pool in sorted(pools.items(), key=lambda item: (item[0] is None, item[0] or "")):
            servers = " ".join(f"{s.name} {s.condition} w{s.weight}" for s in pool)
            parts.append(f"{'v' + version if version else 'other'} {float(split[version]) * 100:g}% ({servers})")
        return ", ".join(parts)

    # --- moving --------------------------------------------------------------------------------------------
    def _apply(self, production: str | None, canary: str | None, weight: float) -> None:
        """Give ``canary`` ``weight`` percent and ``production`` the rest, every other pool nothing; read back."""
        pools = self.pools()
        share = Fraction(repr(float(weight))) / 100 if canary else Fraction(0)
        shares = {v: Fraction(0) for v in pools if v is not None}
        if canary:
            shares[canary] = share
        if production:
            shares[production] = 1 - share
        members = {v: [s for s in pools.get(v, []) if not s.admin_state & MAINTENANCE] for v in shares}
        for version, wanted in shares.items():
            if wanted > 0 and not any(s.usable for s in members[version]):
                servers = ", ".join(f"{s.name} {s.condition}" for s in pools.get(version, [])) or "no server"
                raise TrafficError(
                    f"HAProxy backend {self.backend!r} has no server up in the pool of v{version} ({servers})",
                    f"start its pinned gateways (`mlgate serve MODEL --version {version}`) behind servers named "
                    f"{self.server.format(version=version)} or {self.server.format(version=version)}_<n>",
                )
        sizes = {v: max(len(m), 1) for v, m in members.items()}
        per_server = pool_weights(shares, sizes)
        targets = {s.name: per_server[v] for v, m in members.items() for s in m}
        current = {s.name: s.weight for pool in pools.values() for s in pool}
        raising = [(n, w) for n, w in targets.items() if w > current[n]]
        lowering = [(n, w) for n, w in targets.items() if w < current[n]]
        self.api.set_weights(self.backend, raising + lowering)  # raise before lowering: never all at 0
        seen = {s.name: s.weight for pool in self.pools().values() for s in pool}
        wrong = [f"{n} {seen.get(n)} (told {w})" for n, w in targets.items() if seen.get(n) != w]
        if wrong:
            raise TrafficError(
                f"HAProxy backend {self.backend!r} reads back other weights than it was told: {', '.join(wrong)}",
                "another client changes these weights (another mlgate, an operator, a reload): stop it, run again",
            )
        self._known = (production, canary)

    def set_production(self, version: str) -> None:
        _, canary = self.labels()
        version = str(version)
        keep = canary if canary is not None and canary != version else None
        weight = self.state().weight if keep else 0.0
        self._apply(version, keep, weight)

    def set_canary(self, version: str, weight: float) -> None:
        check_weight(weight)
        production, _ = self.labels()
        version = str(version)
        if production is None or production == version:
            raise TransitionRefused(
                f"HAProxy cannot split v{version}'s traffic against "
                + ("no production version" if production is None else "itself (it is production)"),
                "make another version production first (mlgate promote)",
            )
        self._apply(production, version, weight)

    def clear_canary(self) -> None:
        production, _ = self.labels()
        self._apply(production, None, 0.0)

    def promote_canary(self) -> str:
        _, canary = self.labels()
        if canary is None:
            raise TransitionRefused(f"HAProxy backend {self.backend!r} has no canary to promote", "start a rollout")
        self._apply(canary, None, 0.0)
        return canary

    def set_shadow(self, version: str, share: float) -> None:
        raise TransitionRefused(
            f"HAProxy cannot mirror requests, so v{version} cannot be a shadow through backend {self.backend!r}",
            "the shadow stage needs the built-in router (traffic_router: registry); "
            "start the rollout without it, e.g. --steps 5,25,100",
        )

    def clear_shadow(self) -> None:
        """Nothing to do: HAProxy never mirrors."""

    def describe(self) -> str:
        return (
            f"HAProxy backend {self.backend!r} over its runtime API at {self.api.address} (the pool of version V: "
            f"servers {self.server.format(version='V')} and {self.server.format(version='V')}_*; weights split "
            "traffic between the pools)"
        )


def from_settings(settings: Settings, name: str) -> HAProxyRouter:
    """The router ``traffic_router: haproxy`` builds for model ``name`` from mlgate.yaml's ``haproxy`` section."""
    config = settings.haproxy
    record: list[RegistryRouter] = []

    def labels() -> TrafficState:  # the registry's aliases, read once a move needs them
        if not record:
            record.append(RegistryRouter(Registry.from_settings(settings), name))
        return record[0].state()

    api = RuntimeAPI(config.socket, config.timeout_seconds)
    return HAProxyRouter(api, config.backend.format(model=name), config.server, labels)
