"""The model holder: loads versions in the background, follows the registry's aliases, switches atomically."""

from __future__ import annotations

import inspect
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import pandas as pd

from mlgate.contracts import contract_of_version
from mlgate.exceptions import MlgateError, ServingError
from mlgate.registry import Event, keys
from mlgate.registry.package import load_package
from mlgate.serving.batching import row_wise
from mlgate.serving.direct import array_predictor
from mlgate.serving.protocol import column_index
from mlgate.serving.router import CANARY, PRODUCTION, SHADOW, parse_weight
from mlgate.serving.validation import Validator

if TYPE_CHECKING:
    from mlgate.registry import Registry

log = logging.getLogger("mlgate.serving")


@dataclass(eq=False)
class LoadedModel:
    """One version in memory, with its validator and the cheapest correct way to call it."""

    version: str
    pyfunc: Any
    validator: Validator
    folder: str
    loaded_at: float = field(default_factory=time.time)
    contract: str | None = None

    def __post_init__(self) -> None:
        fn = getattr(self.pyfunc, "_predict_fn", None)
        self._direct: Callable[..., Any] | None = None
        if self.validator.fast and fn is not None:
            params = inspect.signature(fn).parameters.get("params")
            self._direct = fn
            self._takes_params = bool(params and params.kind != inspect.Parameter.VAR_KEYWORD)
        self.row_wise = row_wise(self.pyfunc)  # its requests may share one predict call (serving/batching.py)
        self._array = array_predictor(self.pyfunc, self.validator.names) if self._direct is not None else None

    def predict(self, frame: Any, params: dict[str, Any] | None = None) -> Any:
        """Predict a validated frame: straight to the flavor when the gateway did the schema work."""
        if self._direct is not None and not params:
            return self._direct(frame)
        if self._direct is not None and self._takes_params:
            return self._direct(frame, params=params)
        return self.pyfunc.predict(frame, params=params)

    def predict_array(self, values: Any) -> Any:
        """Predict rows the validator passed as a float64 array in signature order (``Validator.array``)."""
        if self._array is not None:
            return self._array(values)
        return self.predict(pd.DataFrame(values, columns=column_index(self.validator.names or [])))


@dataclass(frozen=True)
class ServingState:
    """What the gateway serves right now; replaced as a whole, so a request sees one consistent state.

    ``shadow`` is the version production requests are mirrored to (``shadow_share`` percent of them,
    after they are answered); it runs in the shadow mirror's own process (serving/shadow.py), not here.
    """

    production: LoadedModel
    canary: LoadedModel | None = None
    canary_weight: float = 0.0
    shadow: str | None = None
    shadow_share: float = 0.0

    def versions(self) -> dict[str, str]:
        served = {PRODUCTION: self.production.version}
        if self.canary is not None:
            served[CANARY] = self.canary.version
        if self.shadow is not None:
            served[SHADOW] = self.shadow
        return served


def load_version(registry: Registry, name: str, version: str) -> LoadedModel:
    """Download and load one version with its validator (the data contract's fast path when it has one)."""
    folder = tempfile.mkdtemp(prefix=f"mlgate-serve-{version}-")
    try:
        package = load_package(registry, name, version, folder)
        contract = _contract_of(registry, name, version)
        validator = Validator.for_model(package.model, contract)
        label = None
        if contract is not None:
            label = f"{getattr(contract, 'name', '?')}@{getattr(contract, 'version', '?')}"
        return LoadedModel(str(version), package.model, validator, folder, contract=label)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _contract_of(registry: Registry, name: str, version: str) -> Any:

    return contract_of_version(registry, name, version)


class ModelHolder:
    """Holds the serving state of one registered model and keeps it in step with the registry.

    ``pinned`` serves one version and ignores aliases. Otherwise a poller thread reads the
    aliases every ``poll_seconds``; a version that fails to load is reported once (an event
    ``serving-load-failed``) and the previous one keeps serving.

    While following, the version named by the last-known-good alias is kept loaded as
    ``standby`` (serving no traffic; ``standby=False`` or the ``serving_standby`` setting turns
    it off): a rollback to it is then a pointer swap. The poller loads it after production and
    canary are handled, outside the lock a switch takes, so it never delays one.
    """

    def __init__(
        self,
        registry: Registry,
        name: str,
        pinned: str | None = None,
        poll_seconds: float = 1.0,
        on_change: Callable[[ServingState], None] | None = None,
        on_load: Callable[[str], None] | None = None,
        standby: bool | None = None,
    ) -> None:
        self.registry = registry
        self.name = name
        self.pinned = pinned
        self.poll_seconds = poll_seconds
        self.on_change = on_change
        self.on_load = on_load
        self.standby_enabled = pinned is None and (registry.settings.serving_standby if standby is None else standby)
        self.standby: LoadedModel | None = None  # the last known good version, loaded, serving no traffic
        self._standby_wanted: str | None = None  # the version the last-known-good alias named at the last read
        self.failed: dict[str, str] = {}  # version -> why it did not load
        self.last_poll: float | None = None
        self.last_poll_error: str | None = None
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()  # set when a standby is wanted now (e.g. after /admin/reload)
        self._thread: threading.Thread | None = None
        self.state = self._initial_state()

    def _initial_state(self) -> ServingState:
        if self.pinned is not None:
            model = self._load_or_raise(self.pinned)
            return ServingState(model)
        aliases, tags = self._read_registry()
        production = aliases.get(self.registry.settings.aliases.production)
        if production is None:
            raise ServingError(
                f"{self.name} has no {self.registry.settings.aliases.production!r} alias, so there is nothing to serve",
                f"promote a version (mlgate promote {self.name} VERSION --to production) or pass --version",
            )
        state = ServingState(self._load_or_raise(production))
        self._standby_wanted = self._standby_version(aliases, production)
        return self._with_shadow(self._with_canary(state, aliases, tags), aliases, tags)

    def _load_or_raise(self, version: str) -> LoadedModel:
        try:
            return load_version(self.registry, self.name, version)
        except MlgateError as exc:
            raise ServingError(f"cannot serve {self.name} v{version}: {exc.message}", exc.hint) from None

    def _read_registry(self) -> tuple[dict[str, str], dict[str, str]]:
        model = self.registry.model(self.name)
        aliases = {a: str(v) for a, v in (model.aliases or {}).items()}
        return aliases, dict(model.tags or {})

    def _held(self) -> list[LoadedModel]:
        """Every model in memory: the serving ones and the standby."""
        state: ServingState | None = getattr(self, "state", None)
        found = [] if state is None else [state.production, state.canary]
        return [m for m in (*found, self.standby) if m is not None]

    def _in_memory(self, version: str) -> LoadedModel | None:
        return next((m for m in self._held() if m.version == version), None)

    def _with_canary(self, state: ServingState, aliases: dict[str, str], tags: dict[str, str]) -> ServingState:
        canary_version = aliases.get(self.registry.settings.aliases.canary)
        weight = parse_weight(tags.get(keys.CANARY_WEIGHT))
        if canary_version is None or canary_version == state.production.version or weight <= 0:
            return ServingState(state.production)
        current = state.canary if state.canary and state.canary.version == canary_version else None
        canary = current or self._in_memory(canary_version) or self._try_load(canary_version)
        if canary is None:
            return ServingState(state.production)  # a broken canary gets no traffic
        return ServingState(state.production, canary, weight)

    def _with_shadow(self, state: ServingState, aliases: dict[str, str], tags: dict[str, str]) -> ServingState:
        """The state with the shadow alias's version and share, unless it is production or failed to load."""
        version = aliases.get(self.registry.settings.aliases.shadow)
        share = parse_weight(tags.get(keys.SHADOW_SHARE))
        if version is None or version == state.production.version or share <= 0 or version in self.failed:
            return state
        return replace(state, shadow=version, shadow_share=share)

    def mark_failed(self, version: str, why: str, role: str) -> None:
        """Record a version that failed to load elsewhere (the shadow's process): reported once, dropped from the
        serving state at the next read of the aliases, retried by /admin/reload."""
        with self._refresh_lock:
            if version in self.failed:
                return
            self.failed[version] = why
        self._report_failure(version, why, role)

    def _standby_version(self, aliases: dict[str, str], production: str) -> str | None:
        """The version to keep as standby: the last known good, unless it is production or standby is off."""
        if not self.standby_enabled:
            return None
        wanted = aliases.get(self.registry.settings.aliases.last_known_good)
        return None if wanted == production else wanted

    def _try_load(self, version: str, role: str = "serving") -> LoadedModel | None:
        if version in self.failed:
            return None
        try:
            model = load_version(self.registry, self.name, version)
        except Exception as exc:  # noqa: BLE001 - any load failure keeps the old model serving
            why = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            self.failed[version] = str(why)
            self._report_failure(version, str(why), role)
            if self.on_load:
                self.on_load("failed")
            return None
        if self.on_load:
            self.on_load("loaded")
        return model

    def _report_failure(self, version: str, why: str, role: str = "serving") -> None:
        if role == "standby":
            log.error("%s v%s (last known good) failed to load as the standby: %s", self.name, version, why)
        elif role == "shadow":
            log.error("%s v%s failed to load as the shadow; production is unaffected: %s", self.name, version, why)
        else:
            log.error("%s v%s failed to load; still serving the previous version: %s", self.name, version, why)
        try:
            self.registry.record_event(
                Event(
                    action="serving-load-failed",
                    model=self.name,
                    from_version=self.state.production.version if hasattr(self, "state") else None,
                    to_version=version,
                    actor=self.registry.settings.actor,
                    reason=why[:500],
                    result="failed",
                    details={
                        "alert": True,
                        "role": role,
                        "kept_serving": self.state.versions() if hasattr(self, "state") else {},
                    },
                )
            )
        except MlgateError as exc:
            log.error("could not record the load failure in the registry: %s", exc.message)

    def refresh(self, retry_failed: bool = False) -> ServingState:
        """Read the aliases once; switch to new versions (loading them unless in memory, e.g. the
        standby), then pick the standby among the models in memory. Returns the state now served."""
        if self.pinned is not None:
            return self.state
        with self._refresh_lock:
            if retry_failed:
                self.failed.clear()
            try:
                aliases, tags = self._read_registry()
                self.last_poll_error = None
            except MlgateError as exc:
                self.last_poll_error = exc.message
                return self.state
            finally:
                self.last_poll = time.time()
            old = self.state
            held = self._held()
            wanted = aliases.get(self.registry.settings.aliases.production)
            named = set(aliases.values())
            self.failed = {v: why for v, why in self.failed.items() if v in named}  # forget versions moved away from
            production = old.production
            if wanted is not None and wanted != production.version:
                # the canary promoted or the standby rolled back to are already in memory: no load
                production = self._in_memory(wanted) or self._try_load(wanted) or production
            new = self._with_canary(ServingState(production, old.canary, old.canary_weight), aliases, tags)
            new = self._with_shadow(new, aliases, tags)
            if new != old:
                self.state = new  # one assignment: every request sees the old state or the new one
                if self.on_change:
                    self.on_change(new)
            self._standby_wanted = self._standby_version(aliases, new.production.version)
            if self.standby is None or self.standby.version != self._standby_wanted:
                # e.g. the production just replaced, now the last known good; else the poller loads it
                self.standby = None if self._standby_wanted is None else self._in_memory_of(held, self._standby_wanted)
            self._release(held)
            if self._standby_wanted is not None and self.standby is None and self._standby_wanted not in self.failed:
                self._wake.set()  # the poller loads it now, not at its next poll
            return self.state

    @staticmethod
    def _in_memory_of(models: list[LoadedModel], version: str) -> LoadedModel | None:
        return next((m for m in models if m.version == version), None)

    def load_standby(self) -> LoadedModel | None:
        """Load the last known good version as the standby if it is not in memory (the poller calls this
        after each refresh). The load runs outside the refresh lock: a switch never waits for it."""
        with self._refresh_lock:
            wanted = self._standby_wanted
            if wanted is None or (self.standby is not None and self.standby.version == wanted):
                return self.standby
            found = self._in_memory(wanted)
            if found is not None or wanted in self.failed:
                self.standby = found
                return found
        model = self._try_load(wanted, role="standby")
        if model is None:
            return None
        with self._refresh_lock:
            held = self._held()
            if self._stop.is_set() or self._standby_wanted != wanted or self._in_memory(wanted) is not None:
                shutil.rmtree(model.folder, ignore_errors=True)  # the aliases moved on while it loaded
                return self.standby
            self.standby = model
            self._release(held)
            return model

    def _release(self, before: list[LoadedModel]) -> None:
        """Delete the folders of the models in ``before`` that are no longer held."""
        kept = {m.folder for m in self._held()}
        for model in before:
            if model.folder not in kept:
                shutil.rmtree(model.folder, ignore_errors=True)

    def start(self) -> None:
        """Follow the registry in a background thread (no-op when pinned)."""
        if self.pinned is not None or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._follow, name="mlgate-follow", daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        self._load_standby()
        while not self._stop.is_set():
            woken = self._wake.wait(self.poll_seconds)  # a poll, or a standby wanted now
            self._wake.clear()
            if self._stop.is_set():
                return
            if not woken:
                try:
                    self.refresh()
                except Exception as exc:
                    self.last_poll_error = f"{type(exc).__name__}: {exc}"
                    log.exception("following the registry failed")
                self._wake.clear()  # this loop loads the standby right now anyway
            self._load_standby()

    def _load_standby(self) -> None:
        try:
            self.load_standby()
        except Exception:
            log.exception("loading the standby failed")

    def stop(self) -> None:
        """Stop following and delete the downloaded model folders."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        with self._refresh_lock:
            for model in self._held():
                shutil.rmtree(model.folder, ignore_errors=True)
