"""Configuration: settings, the one strict YAML reader of every file, one duration grammar, usage errors exit 2."""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from mlgate import api
from mlgate.alerts import parse_duration as alerts_parse_duration
from mlgate.alerts.routing import load_owners, on_duty
from mlgate.alerts.rules import load_rules
from mlgate.cli import main
from mlgate.config import Settings, load_settings, parse_duration, redact_uri
from mlgate.config.files import check_keys, read_yaml
from mlgate.contracts import load_contract
from mlgate.exceptions import CardError, ConfigError, ContractError, MlgateError, PolicyError
from mlgate.gate.policy import load_policy
from mlgate.monitor.run import load_monitor_config
from mlgate.registry import Registry
from mlgate.registry.card import load_card
from mlgate.release.rollout.policy import load_rollout_policy
from mlgate.serving.record import PredictionStore, Served, default_store_url
from mlgate.team.server import plan_server
from tests.monitor_helpers import isolated_version
from tests.rollout_support import pass_gate, register

REPO = Path(__file__).resolve().parent.parent


def write_config(folder: Path, text: str) -> Path:
    config_dir = folder / "mlflow_config"
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "mlgate.yaml").write_text(text)
    return config_dir


def config_in(folder: Path) -> Settings:
    """Settings on a config folder of ``folder`` that holds only a minimal mlgate.yaml."""
    write_config(folder, "tracking_uri: sqlite:///x.db\n")
    return load_settings(env={}, cwd=folder)


# ---------------------------------------------------------------- settings (mlgate.yaml)


def test_relative_sqlite_path_resolves_against_the_project_root(tmp_path: Path) -> None:
    write_config(tmp_path, "tracking_uri: sqlite:///.mlgate/mlflow.db\nartifact_root: .mlgate/artifacts\n")
    settings = load_settings(env={}, cwd=tmp_path / "mlflow_config")
    assert settings.tracking_uri == f"sqlite:///{tmp_path}/.mlgate/mlflow.db"
    assert settings.registry_uri == settings.tracking_uri
    assert settings.artifact_root == str(tmp_path / ".mlgate" / "artifacts")


def test_config_is_found_from_a_subfolder(tmp_path: Path) -> None:
    write_config(tmp_path, "tracking_uri: sqlite:///db.sqlite\n")
    sub = tmp_path / "pipelines" / "deep"
    sub.mkdir(parents=True)
    assert load_settings(env={}, cwd=sub).tracking_uri == f"sqlite:///{tmp_path}/db.sqlite"


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    write_config(tmp_path, "tracking_uri: sqlite:///db.sqlite\nlock_ttl_seconds: 60\n")
    env = {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5999", "MLGATE_LOCK_TTL_SECONDS": "5", "MLGATE_ACTOR": "ci"}
    settings = load_settings(env=env, cwd=tmp_path)
    assert settings.tracking_uri == "http://127.0.0.1:5999"
    assert settings.lock_ttl_seconds == 5
    assert settings.actor == "ci"


def test_no_uri_anywhere_is_an_error_not_a_fallback(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(env={}, cwd=tmp_path)
    assert "MLFLOW_TRACKING_URI" in str(err.value)
    assert "mlflow.db" in str(err.value)
    assert not (tmp_path / "mlflow.db").exists()


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("tracking_uri: [unclosed\n", ["not valid YAML at line 2"]),
        ("- a list\n", ["must hold a mapping", "got a list"]),
        (
            "tracking_uri: sqlite:///x.db\ntracking_url: typo\n",
            ["unknown key 'tracking_url'", "did you mean 'tracking_uri'"],
        ),
        ("tracking_uri: sqlite:///x.db\nlock_ttl_seconds: soon\n", ["lock_ttl_seconds must be a number"]),
        ("tracking_uri: sqlite:///x.db\naliases: {prod: live}\n", ["aliases: unknown key 'prod'", "last_known_good"]),
        ("tracking_uri: sqlite:///x.db\naliases: {production: null}\n", ["aliases.production: must be an alias name"]),
        (
            "tracking_uri: x.db\nprofiles: {team: {tracking_url: http://h}}\n",
            ["profiles.team: unknown key 'tracking_url'"],
        ),
        ("tracking_uri: sqlite:///x.db\ntracking_uri: sqlite:///y.db\n", ["key 'tracking_uri' is written twice"]),
        ("tracking_uri: sqlite:///x.db\ntraffic_router: ''\n", ["traffic_router must be a name, got ''"]),
        ("tracking_uri: sqlite:///x.db\ntraffic_router: [haproxy]\n", ["traffic_router must be a name"]),
    ],
    ids=[
        "bad yaml",
        "not a mapping",
        "unknown key",
        "bad number",
        "unknown alias",
        "null alias",
        "unknown profile key",
        "key twice",
        "empty router",
        "router list",
    ],
)
def test_bad_config_names_the_file_and_the_key(tmp_path: Path, text: str, fragments: list[str]) -> None:
    write_config(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_settings(env={}, cwd=tmp_path)
    for fragment in fragments:
        assert fragment in str(err.value)
    assert str(tmp_path / "mlflow_config" / "mlgate.yaml") in str(err.value)


def test_a_profile_is_checked_even_when_another_one_is_selected(tmp_path: Path) -> None:
    write_config(
        tmp_path, "tracking_uri: x.db\nprofiles:\n  team: {tracking_uri: http://h}\n  ci: {endpont: http://e}\n"
    )
    with pytest.raises(ConfigError, match=r"profiles.ci: unknown key 'endpont'") as err:
        load_settings(env={"MLGATE_PROFILE": "team"}, cwd=tmp_path)
    assert "did you mean 'endpoint'" in str(err.value)


def test_profiles_select_the_team_server(tmp_path: Path) -> None:
    write_config(
        tmp_path, "tracking_uri: sqlite:///x.db\nprofiles:\n  team:\n    tracking_uri: http://127.0.0.1:5000\n"
    )
    assert load_settings(env={"MLGATE_PROFILE": "team"}, cwd=tmp_path).tracking_uri == "http://127.0.0.1:5000"
    with pytest.raises(ConfigError, match="no profile 'prod'"):
        load_settings(env={"MLGATE_PROFILE": "prod"}, cwd=tmp_path)


def test_traffic_router_from_the_default_the_file_a_profile_and_the_environment(tmp_path: Path) -> None:
    write_config(tmp_path, "tracking_uri: x.db\n")
    assert load_settings(env={}, cwd=tmp_path).traffic_router == "registry"
    write_config(tmp_path, "tracking_uri: x.db\ntraffic_router: null\n")
    assert load_settings(env={}, cwd=tmp_path).traffic_router == "registry"
    write_config(
        tmp_path, "tracking_uri: x.db\ntraffic_router: haproxy\nprofiles: {lab: {traffic_router: 'lab:make'}}\n"
    )
    assert load_settings(env={}, cwd=tmp_path).traffic_router == "haproxy"
    assert load_settings(env={"MLGATE_PROFILE": "lab"}, cwd=tmp_path).traffic_router == "lab:make"
    env = {"MLGATE_TRAFFIC_ROUTER": "my_lb.routers:build"}
    assert load_settings(env=env, cwd=tmp_path).traffic_router == "my_lb.routers:build"


def test_passwords_are_redacted() -> None:
    assert redact_uri("postgresql://mlflow:s3cret@db:5432/mlflow") == "postgresql://mlflow:***@db:5432/mlflow"
    assert "s3cret" not in redact_uri("http://alice:s3cret@host/")
    assert redact_uri("sqlite:///x.db") == "sqlite:///x.db"


# ---------------------------------------------------------------- every file of mlflow_config/: strict keys


def test_the_shipped_config_files_all_load(tmp_path: Path) -> None:
    shutil.copytree(REPO / "mlflow_config", tmp_path / "mlflow_config")
    settings = load_settings(env={}, cwd=tmp_path)
    assert settings.traffic_router == "registry"
    assert on_duty(settings, "ml-platform@example.com").person in {"ml-platform@example.com", "ml-oncall"}
    assert {rule.window_seconds for rule in load_rules(settings)} == {900, 3600, 86400}
    assert load_monitor_config(settings)["psi_threshold"] == 0.2
    assert load_rollout_policy(settings, "breast-cancer").bake_seconds == 3
    assert load_policy(settings, "breast-cancer").checks_for("production")
    assert plan_server(settings, "team", env={}).port == 5000
    mlgate_yaml = tmp_path / "mlflow_config" / "mlgate.yaml"  # its commented traffic_router line is a valid one
    mlgate_yaml.write_text(mlgate_yaml.read_text().replace("# traffic_router:", "traffic_router:"))
    assert "\ntraffic_router: registry" in mlgate_yaml.read_text()
    assert load_settings(env={}, cwd=tmp_path).traffic_router == "registry"
    assert load_contract(REPO / "pipelines" / "contracts" / "breast_cancer.yaml").version
    assert read_yaml(REPO / "pipelines" / "cards" / "breast_cancer.yaml")["owner"]


def _team(settings: Settings) -> Any:
    return plan_server(settings, "team", env={})


ROUTE = {"person": "alice", "targets": ["hook"]}
OWNERS = {
    "targets": {"hook": {"kind": "json", "url": "http://127.0.0.1:9/"}},
    "owners": {"a@x": {"business_hours": ROUTE}},
}
TEAM = {"backend_store_uri": "sqlite:///t.db", "artifacts_destination": "art"}
KPI = {"name": "conv", "baseline": 0.1, "source": {"kind": "sql", "url": "sqlite://", "query": "SELECT 1"}}
RULE = {"signal": "drift.max_psi", "threshold": 0.2}


@pytest.mark.parametrize(
    ("file", "content", "load", "where", "key", "known"),
    [
        ("owners.yaml", {**OWNERS, "owner": {}}, load_owners, "owners.yaml", "owner", "owners"),
        ("owners.yaml", {**OWNERS, "hours": {"start": "09:00", "ends": "18:00"}}, load_owners, "hours", "ends",
         "end"),
        ("owners.yaml", {**OWNERS, "targets": {"hook": {"kind": "json", "uri": "http://h/"}}}, load_owners,
         "targets.hook", "uri", "url_env"),
        ("owners.yaml", {**OWNERS, "owners": {"a@x": {"buisness_hours": ROUTE}}}, load_owners, "owners.a@x",
         "buisness_hours", "business_hours"),
        ("owners.yaml", {**OWNERS, "owners": {"a@x": {"business_hours": {**ROUTE, "min_severty": "warning"}}}},
         load_owners, "owners.a@x.business_hours", "min_severty", "min_severity"),
        ("owners.yaml", {**OWNERS, "owners": {"a@x": {"business_hours": ROUTE, "escalation": {**ROUTE, "afer": "5m"}}}},
         load_owners, "owners.a@x.escalation", "afer", "after"),
        ("alerts.yaml", {"rules": [RULE], "rule": []}, load_rules, "alerts.yaml", "rule", "rules"),
        ("alerts.yaml", {"rules": [{**RULE, "windw": "1h"}]}, load_rules, "rules[0]", "windw", "window"),
        ("monitor.yaml", {"psi_treshold": 0.1}, load_monitor_config, "monitor.yaml", "psi_treshold", "psi_threshold"),
        ("monitor.yaml", {"cost": {"curency": "EUR"}}, load_monitor_config, "cost", "curency", "currency"),
        ("monitor.yaml", {"kpis": [{**KPI, "treshold": 0.1}]}, load_monitor_config, "kpis[0]", "treshold", "threshold"),
        ("monitor.yaml", {"kpis": [{**KPI, "source": {**KPI["source"], "column": "x"}}]}, load_monitor_config,
         "kpis[0].source", "column", "query"),
        ("team.yaml", {**TEAM, "wrokers": 2}, _team, "team.yaml", "wrokers", "workers"),
    ],
    ids=["owners top", "owners hours", "owners target", "owners owner", "owners route", "owners escalation",
         "alerts top", "alerts rule", "monitor top", "monitor cost", "monitor kpi", "monitor kpi source", "team"],
)  # fmt: skip
def test_an_unknown_key_is_refused_naming_file_key_and_known_keys(
    tmp_path: Path,
    file: str,
    content: dict[str, Any],
    load: Callable[[Settings], Any],
    where: str,
    key: str,
    known: str,
) -> None:
    settings = config_in(tmp_path)
    assert settings.config_dir is not None
    path = settings.config_dir / file
    path.write_text(yaml.safe_dump(content))
    with pytest.raises(ConfigError) as err:
        load(settings)
    message, hint = err.value.message, err.value.hint or ""
    assert message.startswith(f"{path}: ") and where in message and f"unknown key '{key}'" in message
    assert "known keys:" in hint and known in hint.split("known keys:")[1]


@pytest.mark.parametrize(
    ("file", "content", "load", "key", "known"),
    [
        ("rollout.yaml", {"bake": "1m", "bakes": 2}, lambda s: load_rollout_policy(s, "m"), "bakes", "max_extensions"),
        ("rollout.yaml", {"analysis": {"max_psi": 0.1}}, lambda s: load_rollout_policy(s, "m"), "max_psi",
         "max_prediction_psi"),
        ("rollout.yaml", {"models": {"m": {"bak": "1m"}}}, lambda s: load_rollout_policy(s, "m"), "bak",
         "min_requests"),
        ("policy.yaml", {"stages": {}, "stage": {}}, lambda s: load_policy(s, "m"), "stage", "checks"),
        ("policy.yaml", {"models": {"m": {"stagez": {}}}}, lambda s: load_policy(s, "m"), "stagez", "stages"),
    ],
    ids=["rollout top", "rollout analysis", "rollout model", "policy top", "policy model"],
)  # fmt: skip
def test_the_release_policies_refuse_an_unknown_key_too(
    tmp_path: Path, file: str, content: dict[str, Any], load: Callable[[Settings], Any], key: str, known: str
) -> None:
    settings = config_in(tmp_path)
    assert settings.config_dir is not None
    path = settings.config_dir / file
    path.write_text(yaml.safe_dump(content))
    with pytest.raises(PolicyError) as err:
        load(settings)
    assert str(path) in err.value.message and key in err.value.message and known in str(err.value)


def test_a_typo_under_another_owner_is_refused_before_anyone_is_paged(tmp_path: Path) -> None:
    settings = config_in(tmp_path)
    assert settings.config_dir is not None
    owners = {**OWNERS, "owners": {"a@x": {"business_hours": ROUTE}, "b@x": {"out_of_hour": ROUTE}}}
    (settings.config_dir / "owners.yaml").write_text(yaml.safe_dump(owners))
    with pytest.raises(ConfigError, match=r"owners.b@x: unknown key 'out_of_hour'") as err:
        on_duty(settings, "a@x")
    assert "did you mean 'out_of_hours'" in str(err.value)


@pytest.mark.parametrize(
    ("file", "load", "error"),
    [
        ("rollout.yaml", lambda s: load_rollout_policy(s, "m"), PolicyError),
        ("policy.yaml", lambda s: load_policy(s, "m"), PolicyError),
        ("monitor.yaml", load_monitor_config, ConfigError),
        ("alerts.yaml", load_rules, ConfigError),
        ("owners.yaml", load_owners, ConfigError),
        ("team.yaml", lambda s: plan_server(s, "team", env={}), ConfigError),
    ],
)
def test_every_config_file_refuses_a_key_written_twice_with_its_line(
    tmp_path: Path, file: str, load: Callable[[Settings], Any], error: type[MlgateError]
) -> None:
    settings = config_in(tmp_path)
    assert settings.config_dir is not None
    path = settings.config_dir / file
    path.write_text("# first line\npsi_threshold: 0.1\npsi_threshold: 0.2\n")
    with pytest.raises(error, match=r"line 3, column 1: key 'psi_threshold' is written twice") as err:
        load(settings)
    assert str(path) in str(err.value)


def test_cards_and_contracts_read_through_the_same_reader_with_their_own_errors(tmp_path: Path) -> None:
    path = tmp_path / "card.yaml"
    path.write_text("owner: a\nowner: b\n")
    with pytest.raises(CardError, match="key 'owner' is written twice") as card_err:
        load_card(path)
    assert card_err.value.path == str(path)
    path.write_bytes(b"owner: \xff\n")
    with pytest.raises(CardError, match="not UTF-8"):
        load_card(path)
    path.write_text("name: iris\nversion: 1.0.0\nversion: 2.0.0\n")
    with pytest.raises(ContractError, match=r"line 3, column 1: key 'version' is written twice"):
        load_contract(path)


def test_check_keys_lists_every_unknown_key_and_a_guess_for_each() -> None:
    with pytest.raises(PolicyError) as err:
        check_keys({"bake": 1, "stpes": 2, 7: 3}, ["bake", "steps"], "rollout.yaml: models.m", error=PolicyError)
    assert err.value.message == "rollout.yaml: models.m: unknown keys '7', 'stpes'"
    assert err.value.hint == "did you mean 'steps' for 'stpes'? known keys: bake, steps"
    check_keys({"bake": 1}, ["bake", "steps"], "rollout.yaml")  # known keys pass


# ---------------------------------------------------------------- one duration grammar


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(30, 30), (1.5, 1.5), (0, 0), ("90", 90), ("250ms", 0.25), ("30s", 30), ("10m", 600), ("1h", 3600),
     ("2d", 172800), ("1.5h", 5400), (" 45 s ", 45)],
)  # fmt: skip
def test_durations_in_every_unit(value: Any, seconds: float) -> None:
    assert parse_duration(value) == seconds
    assert alerts_parse_duration is parse_duration  # mlgate.alerts.parse_duration is the one grammar


@pytest.mark.parametrize("value", ["soon", "5parsecs", "-1s", -1, True, None, "1h30m", "10M", math.nan, math.inf, ""])
def test_what_is_not_a_duration_is_refused_naming_where(value: Any) -> None:
    with pytest.raises(ConfigError, match=r"^rollout.yaml: bake: ") as err:
        parse_duration(value, "rollout.yaml: bake")
    assert "250ms" in (err.value.hint or "")


def test_alert_windows_and_escalation_delays_accept_milliseconds(tmp_path: Path) -> None:
    settings = config_in(tmp_path)
    assert settings.config_dir is not None
    (settings.config_dir / "alerts.yaml").write_text(yaml.safe_dump({"rules": [{**RULE, "window": "250ms"}]}))
    assert load_rules(settings)[0].window_seconds == 0.25
    escalation = {**ROUTE, "after": "1500ms"}
    owners = {**OWNERS, "owners": {"a@x": {"business_hours": ROUTE, "escalation": escalation}}}
    (settings.config_dir / "owners.yaml").write_text(yaml.safe_dump(owners))
    assert on_duty(settings, "a@x").escalate_after_seconds == 1.5


def test_a_bad_duration_in_a_file_names_the_file_and_the_key(tmp_path: Path) -> None:
    settings = config_in(tmp_path)
    assert settings.config_dir is not None
    path = settings.config_dir / "alerts.yaml"
    path.write_text(yaml.safe_dump({"rules": [{**RULE, "window": "an hour"}]}))
    with pytest.raises(ConfigError, match=r"rules\[0\].window: cannot read 'an hour' as a duration") as err:
        load_rules(settings)
    assert str(path) in str(err.value)


# ---------------------------------------------------------------- CLI: usage errors exit 2


@pytest.mark.parametrize(
    "args",
    [
        ["monitor", "m", "--window", "5parsecs"],
        ["monitor", "m", "--every", "soon"],
        ["rollout", "start", "m", "2", "--bake", "5parsecs"],
        ["rollout", "start", "m", "2", "--steps", "50,25"],
        ["rollout", "start", "m", "2", "--steps", "5,x"],
        ["rollout", "run", "m", "--max-time", "forever"],
        ["rollout", "run", "m", "--poll", "-1s"],
        ["rollout", "status", "m", "--every", "often"],
    ],
    ids=["window", "every", "bake", "steps order", "steps number", "max-time", "poll", "status every"],
)
def test_a_bad_flag_value_is_a_usage_error(args: list[str]) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    flag = next(a for a in args if a.startswith("--"))
    assert f"Invalid value for '{flag}'" in result.output and repr(args[-1]) in result.output
    assert "Traceback" not in result.output


def test_window_5parsecs_says_how_to_write_a_duration() -> None:
    result = CliRunner().invoke(main, ["monitor", "m", "--window", "5parsecs"])
    assert result.exit_code == 2
    assert "'5parsecs' is not a duration: write it like 250ms, 30s, 10m, 1h or 2d" in result.output


def test_a_usage_error_raised_by_the_library_exits_2(cli_env: Settings) -> None:
    result = CliRunner().invoke(main, ["promote", "m", "1", "--to", "production", "--force"])
    assert result.exit_code == 2, result.output
    assert "--force needs --reason" in result.output and "Traceback" not in result.output


def test_bake_250ms_reaches_the_rollout(cli_env: Settings, model_uri: str, tmp_path: Path) -> None:
    registry = Registry.from_settings(cli_env)
    v1 = register(registry, "m", model_uri, tmp_path)
    pass_gate(registry, "m", v1, "production")
    api.promote("m", v1, "production", registry=registry)
    v2 = register(registry, "m", model_uri, tmp_path)
    args = ["rollout", "start", "m", v2, "--bake", "250ms", "--steps", "50,100", "--force", "--reason", "t", "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    state = json.loads(result.output)["state"]
    assert state["bake_seconds"] == 0.25 and state["steps"] == [50, 100]


def test_window_250ms_reads_only_the_last_quarter_second(cli_env: Settings, registry: Registry, model_uri: str) -> None:
    version = isolated_version(registry, "iris", model_uri)
    registry.set_alias("iris", cli_env.aliases.production, version)
    store = PredictionStore(default_store_url(cli_env))
    ten_seconds_ago = time.time() - 10
    store.record_many(
        Served(ten_seconds_ago + i / 100, "iris", version, "production", f"r{i}", None, 200, 5.0) for i in range(5)
    )
    store.close()
    runner = CliRunner()
    recent = runner.invoke(main, ["monitor", "iris", "--window", "250ms", "--no-alert", "--json"])
    assert recent.exit_code == 0, recent.output
    assert json.loads(recent.output)["rows"] == 0
    hour = runner.invoke(main, ["monitor", "iris", "--window", "1h", "--no-alert", "--json"])
    assert hour.exit_code == 0, hour.output
    assert json.loads(hour.output)["rows"] == 5
