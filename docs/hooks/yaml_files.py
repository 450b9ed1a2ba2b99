"""The configuration-files reference: for each YAML file mlgate reads, its keys (the sets its strict reader
checks), their defaults (dataclasses and literal fallbacks in the reader) and what they mean (comments of the
code and of the shipped examples in mlflow_config/). A file or section is one entry of FILES."""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from code_reading import (
    EXAMPLES,
    REQUIRED,
    S,
    _attr,
    _cell,
    _field_comments,
    _literal_defaults,
    _module,
    _show,
    _yaml_comments,
)


@dataclass
class Section:
    """One mapping of a YAML file: where it sits, the keys the code accepts, where defaults come from."""

    path: str  # "" for the top level
    keys: Callable[[], Iterable[str]]
    modules: tuple[str, ...]  # whose literal defaults and docstring comments count
    defaults: Callable[[], Any] | None = None  # a dataclass instance holding the defaults
    rename: dict[str, str] = field(default_factory=dict)  # YAML key -> dataclass field
    required: tuple[str, ...] = ()
    notes: dict[str, str] = field(default_factory=dict)  # key -> what the default means, where not a value
    described: dict[str, str] = field(default_factory=dict)  # key -> what it is, where comments say another key's


@dataclass
class YamlFile:
    """A file mlgate reads, and its sections."""

    name: str
    what: str
    example: str | None
    sections: list[Section]


def _fields(cls_path: str) -> Callable[[], list[str]]:
    module, name = cls_path.rsplit(".", 1)
    return lambda: [f.name for f in dataclasses.fields(_attr(module, name))]


def _const(module: str, name: str, *extra: str) -> Callable[[], list[str]]:
    return lambda: [*_attr(module, name), *extra]


def _instance(module: str, name: str, **kwargs: Any) -> Callable[[], Any]:
    return lambda: _attr(module, name)(**kwargs)


def _settings_defaults() -> Any:
    settings = _module("mlgate.config.settings")
    return settings.Settings(tracking_uri="", registry_uri="")


def _rollout_defaults() -> Any:
    return _attr("mlgate.release.rollout.policy", "parse_rollout_policy")({})


R, P, M, A, T = (
    "mlgate.release.rollout.policy",
    "mlgate.release.rollout.prom_policy",
    "mlgate.monitor.run",
    "mlgate.alerts.routing",
    "mlgate.team.server",
)
FILES = [
    YamlFile(
        "mlgate.yaml",
        "Where the registry is and how mlgate behaves. Every key can also be set by a variable (see below).",
        "mlgate.yaml",
        [
            Section(
                "",
                _const(S, "FILE_KEYS"),
                (S,),
                _settings_defaults,
                required=("tracking_uri",),
                notes={
                    "registry_uri": "the tracking URI",
                    "prediction_store_url": "`predictions.db` beside a sqlite store, else under `.mlgate/`",
                    "aliases": "see `aliases`",
                    "protected_aliases": "see `protected_aliases`",
                    "profiles": "none; `profiles: {NAME: {any key above}}`, `MLGATE_PROFILE=NAME` picks one",
                },
            ),
            Section("aliases", _fields(f"{S}.Aliases"), (S,), _instance(S, "Aliases")),
            Section("haproxy", _fields(f"{S}.HAProxySettings"), (S,), _instance(S, "HAProxySettings")),
            Section("protected_aliases", _fields(f"{S}.ProtectedAliases"), (S,), _instance(S, "ProtectedAliases")),
        ],
    ),
    YamlFile(
        "policy.yaml",
        "The release gate: the checks each stage requires and their parameters (see "
        "[Gate checks](gate-checks.md)). Changing it invalidates earlier gate reports.",
        "policy.yaml",
        [
            Section("", _const("mlgate.gate.policy", "_TOP_KEYS"), ("mlgate.gate.policy",)),
            Section("models.NAME", _const("mlgate.gate.policy", "_MODEL_KEYS"), ("mlgate.gate.policy",)),
        ],
    ),
    YamlFile(
        "rollout.yaml",
        "Canary steps, bake time, the thresholds a canary is judged by, which changes need a canary. "
        "Apart from policy.yaml, so tuning it does not invalidate gate reports.",
        "rollout.yaml",
        [
            Section(
                "",
                _const(R, "_KEYS", "models"),
                (R,),
                _rollout_defaults,
                rename={"bake": "bake_seconds", "watch": "watch_seconds", "analysis": "thresholds"},
                notes={"models": "none; `models: {NAME: {...}}` overrides any key for one model"},
            ),
            Section(
                "analysis",
                lambda: [*_fields(f"{R}.Thresholds")(), *sorted(_attr(R, "_SOURCE_KEYS"))],
                (R, P),
                _instance(R, "Thresholds"),
            ),
            Section(
                "analysis.queries",
                lambda: list(_attr(P, "DEFAULT_QUERIES")),
                (P,),
                notes={
                    k: "the gateway's metrics (`mlgate.release.rollout.prom_policy.DEFAULT_QUERIES`)"
                    for k in ("requests", "error_rate", "p99_latency")
                },
            ),
            Section(
                "analysis.kpi",
                _fields(f"{R}.KpiSpec"),
                (R,),
                _instance(R, "KpiSpec", url="", query=""),
                required=("url", "query"),
                described={"url": "SQLAlchemy URL of the KPI database", "query": "SQL returning one number per route"},
            ),
            Section(
                "shadow",
                _fields(f"{R}.ShadowPolicy"),
                (R,),
                _instance(R, "ShadowPolicy"),
                notes={
                    k: "as under `analysis`"
                    for k in ("max_error_rate_increase", "max_p99_latency_ratio", "max_prediction_psi")
                },
            ),
            Section("require_canary", _fields(f"{R}.CanaryRules"), (R,), _instance(R, "CanaryRules")),
        ],
    ),
    YamlFile(
        "monitor.yaml",
        "What `mlgate monitor` computes besides drift: the cost model and business KPIs (all optional).",
        "monitor.yaml",
        [
            Section("", _const(M, "_MONITOR_KEYS"), (M, "mlgate.monitor.drift")),
            Section("cost", _const(M, "_COST_KEYS"), ("mlgate.monitor.cost",)),
            Section("kpis[]", _const(M, "_KPI_KEYS"), ("mlgate.stats.kpi", "mlgate.monitor.kpi")),
            *[
                Section(
                    f"kpis[].source (kind: {kind})",
                    (lambda k=kind: _attr(M, "_KPI_SOURCE_KEYS")[k]),
                    ("mlgate.stats.kpi",),
                )
                for kind in ("csv", "http", "sql")
            ],
        ],
    ),
    YamlFile(
        "alerts.yaml",
        "Alert rules every monitoring pass evaluates; a firing rule goes to the owner on duty (owners.yaml).",
        "alerts.yaml",
        [
            Section("", _const("mlgate.alerts.rules", "FILE_KEYS"), ("mlgate.alerts.rules",)),
            Section(
                "rules[]",
                _const("mlgate.alerts.rules", "RULE_KEYS"),
                ("mlgate.alerts.rules",),
                _instance("mlgate.alerts.rules", "Rule", signal="", threshold=0.0),
                rename={"window": "window_seconds"},
                required=("signal", "threshold"),
                notes={"models": "every model"},
            ),
        ],
    ),
    YamlFile(
        "owners.yaml",
        "Who decides, in business hours and out of hours, and which webhook targets reach them.",
        "owners.yaml",
        [
            Section("", _const(A, "FILE_KEYS"), (A,)),
            Section("hours", _const(A, "HOURS_KEYS"), (A,), notes={"days": "`[mon, tue, wed, thu, fri]`"}),
            Section("targets.NAME", _const(A, "TARGET_KEYS"), (A,)),
            Section("owners.OWNER", _const(A, "OWNER_KEYS"), (A,)),
            *[
                Section(f"owners.OWNER.{period}", (lambda p=period: _attr(A, "PERIOD_KEYS")[p]), (A,))
                for period in ("business_hours", "out_of_hours", "escalation")
            ],
        ],
    ),
    YamlFile(
        "team.yaml",
        "The team profile's MLflow tracking server (`mlgate server --profile team`).",
        "team.yaml",
        [Section("", _const(T, "SERVER_KEYS"), (T,), required=("backend_store_uri", "artifacts_destination"))],
    ),
    YamlFile(
        "CARD.yaml (a model card)",
        "Passed to `mlgate register --card`; refused with every problem listed before anything is written.",
        None,
        [
            Section(
                "",
                lambda: [*_attr("mlgate.registry.card", "REQUIRED"), *_attr("mlgate.registry.card", "OPTIONAL")],
                ("mlgate.registry.card",),
            ),
            Section(
                "data_migrations[]",
                _fields("mlgate.registry.card.DataMigration"),
                ("mlgate.registry.card",),
                required=("name", "reversible"),
            ),
        ],
    ),
    YamlFile(
        "a data contract",
        "Passed to `mlgate register --contract` and `mlgate contract ...` "
        "(see [Data contracts](../guides/contracts.md)).",
        None,
        [
            Section("", _const("mlgate.contracts.model", "_TOP_KEYS"), ("mlgate.contracts.model",)),
            Section("columns[]", _const("mlgate.contracts.model", "_COLUMN_KEYS"), ("mlgate.contracts.model",)),
            Section("backfill", _const("mlgate.contracts.model", "_BACKFILL_KEYS"), ("mlgate.contracts.model",)),
        ],
    ),
]


def _section_rows(file: YamlFile, section: Section, comments: dict[str, str]) -> list[str]:
    keys = list(dict.fromkeys(section.keys()))
    instance = section.defaults() if section.defaults else None
    field_notes = _field_comments(type(instance)) if instance is not None else {}
    literal: dict[str, Any] = {}
    for name in section.modules:
        literal.update({k: v for k, v in _literal_defaults(_module(name), keys).items() if k not in literal})
    required = set(section.required)
    if file.name.startswith("CARD") and section.path == "":
        required = set(_attr("mlgate.registry.card", "REQUIRED"))
    rows = []
    ordered = [k for k in keys if k in required] + sorted(k for k in keys if k not in required)
    for key in ordered:
        attr = section.rename.get(key, key).replace("-", "_")
        if key in required:
            default = _show(REQUIRED)
        elif key in section.notes:
            default = section.notes[key]
        elif instance is not None and hasattr(instance, attr):
            value = getattr(instance, attr)
            default = _show(value) if value not in ("", None) else "—"
            if attr.endswith("_seconds") and isinstance(value, int | float) and value:
                default = f"`{value:g}` s"
        elif key in literal:
            default = _show(literal[key])
        else:
            default = "—"
        text = section.described.get(key) or field_notes.get(attr) or comments.get(key) or ""
        rows.append(f"| `{key}` | {default} | {_cell(text)} |")
    return rows


def yaml_files() -> str:
    out = []
    for file in FILES:
        example = (EXAMPLES / file.example) if file.example else None
        texts = [example.read_text()] if example and example.is_file() else []
        for section in file.sections:
            texts += [(_module(m).__doc__ or "") for m in section.modules]
        title = f"`mlflow_config/{file.name}`" if file.example else file.name
        out += [f"## {title}", "", file.what, ""]
        if example and example.is_file():
            out += [f"The shipped example, with comments: `mlflow_config/{file.example}`.", ""]
        for section in file.sections:
            label = f"`{section.path}`" if section.path else "top level"
            out += [f"**{label}**", "", "| key | default | what it is |", "|---|---|---|"]
            out += _section_rows(file, section, _yaml_comments(*texts, top=not section.path))
            out.append("")
    return "\n".join(out)


def settings_vars() -> str:
    """mlgate.yaml keys that an MLGATE_* variable overrides."""
    source = inspect.getsource(_module(S))
    rows = ["| key | variable |", "|---|---|"]
    for key in sorted(_attr(S, "SETTING_KEYS")):
        var = f"MLGATE_{key.upper()}"
        if f'"{var}"' in source or re.search(rf'num\(\s*"{key}"', source):
            rows.append(f"| `{key}` | `{var}` |")
    return "\n".join(rows)
