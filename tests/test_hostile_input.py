"""Hostile input: fuzzed cards, contracts and policies, a fuzzed gateway, safe YAML only, no secret ever shown."""

from __future__ import annotations

import ast
import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mlgate
from mlgate.cli import main
from mlgate.config import Settings, load_settings
from mlgate.contracts import parse_contract, parse_contract_text
from mlgate.contracts.model import load_contract
from mlgate.exceptions import CardError, ConfigError, ContractError, PolicyError
from mlgate.gate.policy import load_policy
from mlgate.registry import Registry
from mlgate.registry.card import load_card, parse_card
from mlgate.release.rollout.policy import load_rollout_policy, parse_rollout_policy
from mlgate.serving import RunningGateway, running_gateway
from mlgate.testing import throwaway_settings
from tests.serving_helpers import NAME, module_registry, rows, split_body

PACKAGE_DIR = str(Path(mlgate.__file__).resolve().parent)
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TOKEN = "adm1n-t0ken-do-not-show"
PASSWORD = "s3cretPa55"

# ---------------------------------------------------------------- YAML-ish structures

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["", " ", "1.0.0", "drop", "reject", "impute", "float", "int", "production", "10m", "a" * 64]),
)
_keys = st.one_of(st.text(max_size=10), st.integers(), st.booleans(), st.none(), st.floats(allow_nan=False))
yamlish = st.recursive(
    _scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(_keys, children, max_size=4)),
    max_leaves=20,
)

_VALID_CARD = {
    "owner": "team",
    "intended_use": "demo",
    "description": "a model",
    "training_data": {"name": "iris", "sha256": "a" * 64},
    "data_migrations": [{"name": "m", "reversible": True}],
}
_VALID_CONTRACT = {
    "name": "iris",
    "version": "1.0.0",
    "defaults": {"on_null": "reject"},
    "columns": [{"name": "x", "type": "float", "nullable": False, "min": 0, "max": 10}],
    "backfill": {"strategy": "none", "description": "nothing to do"},
}
_VALID_POLICY = {"checks": {}, "stages": {"staging": [], "production": []}}
_VALID_ROLLOUT = {"steps": [5, 50, 100], "bake": "10m", "analysis": {"max_prediction_psi": 0.2}}


def _mutated(valid: dict[str, Any]) -> st.SearchStrategy[Any]:
    """The valid document with some keys (top level or one below) replaced by fuzz, or extra keys."""

    def mutate(draw_keys: list[str], values: list[Any], extra: dict[Any, Any]) -> dict[Any, Any]:
        doc: dict[Any, Any] = json.loads(json.dumps(valid))
        for key, value in zip(draw_keys, values, strict=False):
            parent = doc
            if "." in key:
                head, key = key.split(".", 1)
                parent = doc[head] if isinstance(doc.get(head), dict) else doc
            parent[key] = value
        doc.update(extra)
        return doc

    paths = [k for k in valid] + [f"{k}.{s}" for k, v in valid.items() if isinstance(v, dict) for s in v]
    return st.builds(
        mutate,
        st.lists(st.sampled_from(paths), max_size=3),
        st.lists(yamlish, min_size=3, max_size=3),
        st.dictionaries(_keys, _scalars, max_size=2),
    )


yaml_text = st.one_of(
    st.text(max_size=200),
    yamlish.map(lambda d: yaml.safe_dump(d, allow_unicode=True)),
    st.builds(
        lambda a, b: a + b,
        yamlish.map(yaml.safe_dump),
        st.sampled_from([":", "- [", "!!python/object:os.system {}", "\t", "&a *b", "{"]),
    ),
)


def _names_source(err: Exception, source: str) -> None:
    assert source in str(err), f"{type(err).__name__} does not name {source}: {err}"
    assert "Traceback" not in str(err)


# ---------------------------------------------------------------- 1. parsers never raise anything else


@FUZZ
@given(st.one_of(yamlish, _mutated(_VALID_CARD)))
def test_card_parsing_of_any_structure_raises_only_card_error(data: Any) -> None:
    try:
        parse_card(data, "fuzz/CARD.yaml")
    except CardError as err:
        _names_source(err, "fuzz/CARD.yaml")


@FUZZ
@given(st.one_of(yamlish, _mutated(_VALID_CONTRACT)))
def test_contract_parsing_of_any_structure_raises_only_contract_error(data: Any) -> None:
    try:
        parse_contract(data, "fuzz/contract.yaml")
    except ContractError as err:
        _names_source(err, "fuzz/contract.yaml")


@FUZZ
@given(st.one_of(yamlish, _mutated(_VALID_ROLLOUT)), st.sampled_from([None, "m", "other"]))
def test_rollout_policy_parsing_of_any_structure_raises_only_policy_error(data: Any, model: str | None) -> None:
    if isinstance(data, dict) and model is not None:
        data = {**data, "models": {model: data.get("models", {})}}
    try:
        parse_rollout_policy(data, "fuzz/rollout.yaml", model)
    except PolicyError as err:
        _names_source(err, "fuzz/rollout.yaml")


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="mlgate-hostile-") as folder:
        yield Path(folder)


@FUZZ
@given(text=yaml_text)
def test_card_and_contract_files_with_any_text_raise_only_their_error(scratch: Path, text: str) -> None:
    path = scratch / "CARD.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_card(path)
    except CardError as err:
        _names_source(err, str(path))
    try:
        parse_contract_text(text, "fuzz/contract.yaml")
    except ContractError as err:
        _names_source(err, "fuzz/contract.yaml")


def _config(scratch: Path) -> Settings:
    config_dir = scratch / "mlflow_config"
    config_dir.mkdir(exist_ok=True)
    return throwaway_settings(scratch / "store", config_dir=config_dir)


@FUZZ
@given(doc=st.one_of(yamlish, _mutated(_VALID_POLICY)), text=st.one_of(st.none(), yaml_text))
def test_release_policy_files_with_any_content_raise_only_policy_error(
    scratch: Path, doc: Any, text: str | None
) -> None:
    cfg = _config(scratch)
    assert cfg.config_dir is not None
    path = cfg.config_dir / "policy.yaml"
    path.write_text(text if text is not None else yaml.safe_dump(doc), encoding="utf-8", errors="surrogatepass")
    try:
        load_policy(cfg, "m")
    except PolicyError as err:
        _names_source(err, str(path))


@FUZZ
@given(doc=st.one_of(yamlish, _mutated(_VALID_ROLLOUT)), text=st.one_of(st.none(), yaml_text))
def test_rollout_files_with_any_content_raise_only_policy_error(scratch: Path, doc: Any, text: str | None) -> None:
    cfg = _config(scratch)
    assert cfg.config_dir is not None
    path = cfg.config_dir / "rollout.yaml"
    path.write_text(text if text is not None else yaml.safe_dump(doc), encoding="utf-8", errors="surrogatepass")
    try:
        load_rollout_policy(cfg, "m")
    except PolicyError as err:
        _names_source(err, str(path))


# ---------------------------------------------------------------- 3. YAML is only ever loaded safely

_UNSAFE = {"load", "unsafe_load", "full_load", "load_all", "unsafe_load_all", "full_load_all", "dump", "dump_all"}


def test_no_module_calls_an_unsafe_yaml_loader() -> None:
    offenders = []
    for path in sorted(Path(PACKAGE_DIR).rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _UNSAFE:
                owner = node.func.value
                if isinstance(owner, ast.Name) and owner.id in {"yaml", "_yaml", "pyyaml"}:
                    offenders.append(f"{path.relative_to(PACKAGE_DIR)}:{node.lineno} yaml.{node.func.attr}")
            if isinstance(node, ast.ImportFrom) and node.module == "yaml":
                bad = [a.name for a in node.names if a.name in _UNSAFE | {"Loader", "UnsafeLoader", "FullLoader"}]
                if bad:
                    offenders.append(f"{path.relative_to(PACKAGE_DIR)}:{node.lineno} from yaml import {bad}")
    assert not offenders, "use yaml.safe_load / yaml.safe_dump only:\n" + "\n".join(offenders)


_EXPLOIT = "!!python/object/apply:os.system ['touch {marker}']"


def test_a_python_object_tag_is_refused_by_every_loader(tmp_path: Path, cli_env: Settings) -> None:
    marker = tmp_path / "pwned"
    evil = _EXPLOIT.format(marker=marker)
    card = tmp_path / "CARD.yaml"
    card.write_text(f"owner: {evil}\n")
    with pytest.raises(CardError, match="not valid YAML") as card_err:
        load_card(card)
    assert str(card) in str(card_err.value)
    contract = tmp_path / "contract.yaml"
    contract.write_text(f"name: iris\nversion: {evil}\n")
    with pytest.raises(ContractError, match="not valid YAML") as contract_err:
        load_contract(contract)
    assert str(contract) in str(contract_err.value)
    assert cli_env.config_dir is not None
    config = cli_env.config_dir / "mlgate.yaml"
    original = config.read_text()
    config.write_text(original + f"endpoint: {evil}\n")
    with pytest.raises(ConfigError, match="not valid YAML") as config_err:
        load_settings()
    assert str(config) in str(config_err.value)
    config.write_text(original)
    (cli_env.config_dir / "policy.yaml").write_text(f"checks: {evil}\n")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(cli_env, "m")
    (cli_env.config_dir / "rollout.yaml").write_text(f"bake: {evil}\n")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_rollout_policy(cli_env, "m")
    assert not marker.exists(), "a YAML tag ran a command"


# ---------------------------------------------------------------- 2. the gateway under hostile requests


@pytest.fixture(scope="module")
def reg(tmp_path_factory: pytest.TempPathFactory, template_store: tuple[Path, str]) -> Registry:
    return module_registry(tmp_path_factory.mktemp("hostile"), template_store, versions=1)


@pytest.fixture(scope="module")
def gateway(reg: Registry) -> Iterator[RunningGateway]:
    with running_gateway(reg, NAME, poll_seconds=0.5, admin_token=TOKEN, max_body_bytes=2_000_000, record=False) as url:
        yield url


@pytest.fixture(scope="module")
def client(gateway: RunningGateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway, timeout=20) as c:
        yield c


def _assert_clean(status: int, text: str) -> None:
    assert status < 500, f"{status}: {text[:500]}"
    assert "Traceback" not in text
    assert PACKAGE_DIR not in text and "site-packages" not in text, text[:500]
    assert TOKEN not in text


_FRAME = {"type": "object", "properties": {"columns": {"type": "array"}, "data": {"type": "array"}}}
_SCORING_BODY = {
    "content": {
        "application/json": {
            "schema": {
                "anyOf": [
                    {"type": "object", "properties": {"dataframe_split": _FRAME}, "required": ["dataframe_split"]},
                    {
                        "type": "object",
                        "properties": {"dataframe_records": {"type": "array", "items": {"type": "object"}}},
                        "required": ["dataframe_records"],
                    },
                    {"type": "object", "properties": {"instances": {"type": "array"}}, "required": ["instances"]},
                    {
                        "type": "object",
                        "properties": {"inputs": {}, "params": {"type": "object"}},
                        "required": ["inputs"],
                    },
                ]
            }
        },
        "text/csv": {"schema": {"type": "string"}},
    }
}


def _openapi(gateway: RunningGateway) -> dict[str, Any]:
    """The gateway's own OpenAPI document (FastAPI builds it; the gateway does not serve it), plus the
    scoring body: /invocations reads the raw request, so FastAPI cannot describe MLflow's protocol itself."""
    from mlgate.serving.app import ADMIN_HEADER, app_for

    doc = app_for(gateway.gateway).openapi()
    doc["paths"]["/invocations"]["post"]["requestBody"] = _SCORING_BODY
    doc["paths"]["/admin/reload"]["post"]["parameters"] = [
        {"name": ADMIN_HEADER, "in": "header", "required": False, "schema": {"type": "string"}}
    ]
    return doc


def _fuzz(strategy: Any, examples: int, base_url: str, statuses: set[int]) -> None:
    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def check(case: Any) -> None:
        response = case.call(base_url=base_url, timeout=20)
        statuses.add(response.status_code)
        _assert_clean(response.status_code, response.text)

    check()


def test_schemathesis_finds_no_5xx_and_no_stack_trace(
    gateway: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    import schemathesis
    from schemathesis.generation import GenerationMode

    schema = schemathesis.openapi.from_dict(_openapi(gateway))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/invocations", "/admin/reload", "/health", "/version"}
    seen: dict[str, set[int]] = {}
    for op in operations:
        examples = 40 if op.path == "/invocations" else 8
        # only the body can be made invalid: the other operations take nothing, or one free-form header
        modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if op.path == "/invocations" else ()
        for mode in modes or (GenerationMode.POSITIVE,):
            _fuzz(op.as_strategy(generation_mode=mode), examples, gateway, seen.setdefault(op.path, set()))
    assert seen["/invocations"] & {400, 413, 415, 422}, seen
    assert 401 in seen["/admin/reload"], seen
    assert TOKEN not in caplog.text


def _big_nested(depth: int) -> bytes:
    return b'{"inputs": ' + b"[" * depth + b"1" + b"]" * depth + b"}"


_columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
_HOSTILE: dict[str, tuple[str, bytes]] = {
    "deeply nested JSON": ("application/json", _big_nested(100_000)),
    "deeply nested objects": ("application/json", b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
    "huge integer": ("application/json", json.dumps({"inputs": [[10**4000, 1, 1, 1]]}).encode()),
    "huge float": ("application/json", b'{"inputs": [[1e999999, 1, 1, 1]]}'),
    "NaN literal": (
        "application/json",
        b'{"dataframe_split": {"columns": %b, "data": [[NaN, 1, 1, 1]]}}' % json.dumps(_columns).encode(),
    ),
    "Infinity literal": ("application/json", b'{"inputs": [[Infinity, -Infinity, 1, 1]]}'),
    "wrong content type": ("application/xml", b"<inputs><a>1</a></inputs>"),
    "no content type": ("", json.dumps(split_body(rows(1))).encode()),
    "form data": ("application/x-www-form-urlencoded", b"inputs=1&inputs=2"),
    "invalid UTF-8 JSON": ("application/json", b'{"inputs": [["\xff\xfe\xfa", 1, 1, 1]]}'),
    "invalid UTF-8 CSV": ("text/csv", b"sepal_length,sepal_width,petal_length,petal_width\n\xff,\xfe,1,1\n"),
    "10k columns": (
        "application/json",
        json.dumps(
            {"dataframe_split": {"columns": [f"c{i}" for i in range(10_000)], "data": [list(range(10_000))]}}
        ).encode(),
    ),
    "10k columns plus the real ones": (
        "application/json",
        json.dumps(
            {"dataframe_records": [{**{f"c{i}": i for i in range(10_000)}, **dict.fromkeys(_columns, 1.0)}]}
        ).encode(),
    ),
    "empty body": ("application/json", b""),
    "null": ("application/json", b"null"),
    "a bare string": ("application/json", b'"inputs"'),
    "duplicate columns": (
        "application/json",
        json.dumps({"dataframe_split": {"columns": _columns * 2, "data": [[1] * 8]}}).encode(),
    ),
    "ragged rows": (
        "application/json",
        json.dumps({"dataframe_split": {"columns": _columns, "data": [[1], [1, 2, 3, 4, 5]]}}).encode(),
    ),
    "NUL bytes": ("text/csv", b"sepal_length\x00,sepal_width\n\x00,\x00\n"),
}


@pytest.mark.parametrize("case", list(_HOSTILE))
def test_hostile_bodies_get_a_4xx_json_answer(
    client: httpx.Client, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    content_type, body = _HOSTILE[case]
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/invocations", content=body, headers=headers)
    _assert_clean(response.status_code, response.text)
    extra_columns_are_fine = case == "10k columns plus the real ones"  # MLflow's protocol ignores extra columns
    assert 400 <= response.status_code < 500 or extra_columns_are_fine, (response.status_code, response.text[:300])
    assert isinstance(response.json(), dict) and response.json()
    assert "unexpected error" not in caplog.text


# ---------------------------------------------------------------- 4. secrets never printed or logged


def test_admin_token_never_appears_in_answers_or_logs(client: httpx.Client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    from mlgate.serving.app import ADMIN_HEADER

    answers = [
        client.post("/admin/reload", headers={ADMIN_HEADER: TOKEN[:-1]}),
        client.post("/admin/reload", headers={"Authorization": f"Bearer {TOKEN}x"}),
        client.post("/admin/reload", headers={ADMIN_HEADER: TOKEN}),
        client.get("/health"),
        client.get("/version"),
        client.get("/metrics"),
    ]
    assert [a.status_code for a in answers[:3]] == [401, 401, 200]
    for answer in answers:
        assert TOKEN not in answer.text and TOKEN not in str(answer.headers)
    assert TOKEN not in caplog.text


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLGATE_"))}
    env.update(MLFLOW_DISABLE_TELEMETRY="true", GX_ANALYTICS_ENABLED="false", MLFLOW_HTTP_REQUEST_MAX_RETRIES="0")
    env.update(MLFLOW_HTTP_REQUEST_TIMEOUT="5")
    env.update(extra)
    return env


def test_a_password_in_the_tracking_uri_is_never_printed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = f"http://alice:{PASSWORD}@127.0.0.1:9"
    done = subprocess.run(
        [sys.executable, "-c", "from mlgate.cli import main; main()", "status", "m"],
        env=_clean_env(MLFLOW_TRACKING_URI=uri),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    assert "127.0.0.1:9" in done.stdout + done.stderr and "Traceback" not in done.stderr
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    result = CliRunner().invoke(main, ["status", "m"])
    assert result.exit_code == 1
    assert PASSWORD not in result.output
    assert PASSWORD not in caplog.text, [r.getMessage()[:200] for r in caplog.records if PASSWORD in r.getMessage()]


def test_a_database_password_is_never_printed_by_server_dry_run(
    cli_env: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert cli_env.config_dir is not None
    (cli_env.config_dir / "team.yaml").write_text(
        yaml.safe_dump({"backend_store_uri": "postgresql://mlflow@db:5432/mlflow", "artifacts_destination": "s3://b/a"})
    )
    monkeypatch.setenv("MLGATE_BACKEND_STORE_URI", f"postgresql://mlflow:{PASSWORD}@db:5432/mlflow")
    outputs = []
    for extra in ([], ["--json"]):
        result = CliRunner().invoke(main, ["server", "--profile", "team", "--dry-run", *extra])
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    assert "mlflow:***@db" in outputs[0]
    done = subprocess.run(
        [sys.executable, "-c", "from mlgate.cli import main; main()", "server", "--profile", "team", "--dry-run"],
        env=_clean_env(
            MLGATE_CONFIG_DIR=str(cli_env.config_dir),
            MLGATE_BACKEND_STORE_URI=f"postgresql://mlflow:{PASSWORD}@db:5432/mlflow",
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    outputs += [done.stdout, done.stderr]
    assert all(PASSWORD not in text for text in outputs)
    assert PASSWORD not in caplog.text
