"""`make demo`: the whole release story on the embedded default registry under .mlgate/."""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".mlgate"
WORK = STATE / "demo"
MODEL = "breast-cancer"
CONTRACT = ROOT / "pipelines" / "contracts" / "breast_cancer.yaml"
BIN = Path(sys.executable).parent
ENV = {
    **os.environ,
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "GX_ANALYTICS_ENABLED": "false",
    "MLGATE_ACTOR": "demo",
    # the gateway's admin token: promotions and rollbacks ask the gateway to reload at once
    "MLGATE_ADMIN_TOKEN": secrets.token_hex(16),
    "MLGATE_FEEDBACK_TOKEN": secrets.token_hex(16),  # callers send labels to the gateway's POST /feedback with it
    "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
}
for key in ("MLFLOW_TRACKING_URI", "MLGATE_TRACKING_URI", "MLGATE_CONFIG_DIR", "MLGATE_PROFILE"):
    ENV.pop(key, None)  # the demo always runs on the embedded default of mlflow_config/mlgate.yaml


STARTED = time.monotonic()


def say(text: str) -> None:
    print(f"\n=== [{time.monotonic() - STARTED:5.1f} s] {text}", flush=True)


def show(proc: subprocess.CompletedProcess[str], limit: int = 40) -> None:
    lines = (proc.stdout + proc.stderr).rstrip().splitlines()
    lines = [line for line in lines if " INFO " not in line and "WARNING" not in line and "warn(" not in line]
    if len(lines) > limit:
        lines = [*lines[: limit - 1], f"... ({len(lines) - limit + 1} more lines)"]
    for line in lines:
        print("  " + line, flush=True)


def run(args: list[str], expect: int = 0, limit: int = 40) -> subprocess.CompletedProcess[str]:
    """Run a command as a user would, show it and its output, stop the demo on a surprise."""
    shown = [a.replace(str(ROOT) + "/", "") for a in args]
    print(f"$ {shlex.join(shown)}", flush=True)
    begun = time.monotonic()
    proc = subprocess.run(args, cwd=ROOT, env=ENV, text=True, capture_output=True)
    show(proc, limit)
    print(f"  ({time.monotonic() - begun:.1f} s)", flush=True)
    if proc.returncode != expect:
        print(f"demo: expected exit {expect}, got {proc.returncode}", file=sys.stderr)
        sys.exit(1)
    return proc


def mlgate(*args: str, expect: int = 0, limit: int = 40) -> subprocess.CompletedProcess[str]:
    return run([str(BIN / "mlgate"), *args], expect=expect, limit=limit)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class AlertInbox(BaseHTTPRequestHandler):
    """A real loopback webhook receiver standing in for Slack and the pager."""

    received: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        AlertInbox.received.append({"path": self.path, "body": json.loads(body or b"{}")})
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def start_inbox() -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), AlertInbox)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    ENV.update(
        MLGATE_SLACK_WEBHOOK_URL=f"{url}/slack",
        MLGATE_PAGER_WEBHOOK_URL=f"{url}/pager",
        MLGATE_WEBHOOK_SECRET="demo-secret",
    )
    return server


class Traffic:
    """Steady client traffic to the gateway from a background thread (bounded; stops with the demo)."""

    def __init__(self, url: str, rows: list[dict]) -> None:
        self.url, self.rows = url, rows
        self.sent = self.failed = 0
        self.versions: dict[str, int] = {}
        self.canary_answer: tuple[str, str] | None = None  # (request id, UTC time) of the latest canary answer
        self.answered: dict[str, int] = {}  # request id -> row index, for labels that come back later
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        import requests

        session = requests.Session()
        i = 0
        while not self._stop.is_set() and self.sent < 20000:
            row = self.rows[i % len(self.rows)]
            try:
                resp = session.post(
                    f"{self.url}/invocations",
                    json={"dataframe_records": [row]},
                    headers={"X-Request-Key": f"client-{i % 97}"},
                    timeout=5,
                )
                version = resp.headers.get("X-Mlgate-Model-Version", "?")
                self.versions[version] = self.versions.get(version, 0) + 1
                if resp.headers.get("X-Mlgate-Route") == "canary" and resp.headers.get("X-Mlgate-Request-Id"):
                    answered_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                    self.canary_answer = (resp.headers["X-Mlgate-Request-Id"], answered_at)
                if resp.status_code == 200 and len(self.answered) < 5000:
                    self.answered[resp.headers.get("X-Mlgate-Request-Id", "")] = i % len(self.rows)
                if resp.status_code >= 500:
                    self.failed += 1
            except Exception:  # noqa: BLE001 - a refused connection is a failed request
                self.failed += 1
            self.sent += 1
            i += 1
            time.sleep(0.01)

    def start(self) -> Traffic:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def log_constant_model() -> str:
    """A model that calls every sample malignant: it never errors, it shifts every prediction."""
    from importlib.metadata import version

    import mlflow
    from sklearn.dummy import DummyClassifier

    from mlgate.config import load_settings
    from mlgate.registry import mlflow_uris
    from pipelines import data

    source = data.builtin_source()
    x, y = source[data.FEATURES], source[data.TARGET]
    with mlflow_uris(load_settings(cwd=ROOT)):
        mlflow.set_experiment("demo-bad-models")
        with mlflow.start_run(run_name="always-malignant"):
            info = mlflow.sklearn.log_model(
                DummyClassifier(strategy="constant", constant=1).fit(x, y),
                name="model",
                input_example=x.head(3),
                pip_requirements=[f"scikit-learn=={version('scikit-learn')}", f"pandas=={version('pandas')}"],
                serialization_format="cloudpickle",
            )
    return str(info.model_uri)


def write_bad_model_card() -> Path:
    """The example's card, with the training data the bad model saw (name and full-content sha256)."""
    import yaml

    from mlgate.training.provenance import dataset_sha256
    from pipelines import data

    card = yaml.safe_load((ROOT / "pipelines" / "cards" / "breast_cancer.yaml").read_text())
    card["description"] = "A constant classifier that calls every sample malignant (a deliberately bad release)."
    card["training_data"] = {"name": "breast-cancer-wisconsin", "sha256": dataset_sha256(data.builtin_source())}
    path = WORK / "bad_model_card.yaml"
    path.write_text(yaml.safe_dump(card, sort_keys=False))
    return path


def approve_as_owner_on_duty(version: str, comment: str) -> None:
    """`mlgate approve` run by the card owner's person on duty now (owners.yaml), not by the demo's actor."""
    import yaml

    from mlgate.alerts import on_duty
    from mlgate.config import load_settings

    owner = yaml.safe_load((ROOT / "pipelines" / "cards" / "breast_cancer.yaml").read_text())["owner"]
    ENV["MLGATE_ACTOR"] = on_duty(load_settings(cwd=ROOT), owner).person
    try:
        mlgate("approve", MODEL, version, "--stage", "production", "--comment", comment)
    finally:
        ENV["MLGATE_ACTOR"] = "demo"


def fresh_state() -> None:
    if STATE.exists():
        say(f"starting from fresh state: removing the previous demo registry in {STATE.relative_to(ROOT)}/")
        shutil.rmtree(STATE)
    WORK.mkdir(parents=True)


def data_contract_step() -> None:
    say("1. data contract at ingestion: Great Expectations checks the source data against the contract")
    from pipelines import data

    source = data.builtin_source()
    dirty = source.head(200).astype(object)
    dirty.loc[3, "mean_radius"] = None  # null: imputed with the contract's stated value
    dirty.loc[5, "mean_texture"] = "n/a"  # wrong type: the row is rejected and quarantined
    dirty.loc[7, "size_band"] = "huge"  # unseen category: passed through, flagged
    dirty.to_csv(WORK / "dirty.csv", index=False)
    mlgate("contract", "validate", str(CONTRACT), str(WORK / "dirty.csv"), "--rejected", str(WORK / "quarantine.csv"))
    source.drop(columns=["mean_radius"]).to_csv(WORK / "broken.csv", index=False)
    mlgate("contract", "validate", str(CONTRACT), str(WORK / "broken.csv"), expect=1, limit=10)


def main() -> int:
    started = time.monotonic()
    os.environ.update({k: ENV[k] for k in ("MLGATE_ACTOR", "MLFLOW_DISABLE_TELEMETRY", "GX_ANALYTICS_ENABLED")})
    fresh_state()
    inbox = start_inbox()
    data_contract_step()

    say("2. reproducible training: two versions of the example pipeline, recorded and registered")
    print("  (pipelines/train.py: contract check, transform tests, fixed seed, full-content digests, environment)")
    from mlgate.config import load_settings
    from pipelines.train import train

    for variant in (0, 1):
        t0 = time.monotonic()
        outcome = train(load_settings(cwd=ROOT), variant=variant, register_as=MODEL)
        assert outcome.registration is not None
        metrics = ", ".join(f"{k} {v:.3f}" for k, v in sorted(outcome.metrics.items()))
        print(
            f"  variant {variant}: registered {MODEL} v{outcome.registration.version} ({metrics}) "
            f"in {time.monotonic() - t0:.0f} s"
        )

    say("3. the release gate: every check of mlflow_config/policy.yaml, evidence stored on the version")
    mlgate("check", MODEL, "1", "--stage", "production", expect=1, limit=50)  # all pass but `approval`

    say("4. production needs a sign-off: refused without one, approved by the owner on duty, then promoted")
    mlgate("promote", MODEL, "1", "--to", "production", expect=1, limit=6)
    approve_as_owner_on_duty("1", "gate report read: every other check passed")
    mlgate("promote", MODEL, "1", "--to", "production")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    gateway = subprocess.Popen(  # starts in the background while v1 is rebuilt
        [str(BIN / "mlgate"), "serve", MODEL, "--port", str(port)],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        say("5. the exact package of v1 can be retrieved and rebuilt")
        mlgate("reproduce", MODEL, "1", limit=25)

        say("6. the serving gateway follows the registry; a smoke test proves the endpoint")
        wait_for(url)
        print(f"  gateway on {url} (pid {gateway.pid})")
        ENV["MLGATE_ENDPOINT"] = url  # promotions and rollbacks now smoke-test the live endpoint
        mlgate("smoke", MODEL, "--endpoint", url)
        from pipelines import data

        source = data.builtin_source().head(300)
        rows = json.loads(source[data.FEATURES].to_json(orient="records"))
        labels = source[data.TARGET].tolist()
        traffic = Traffic(url, rows).start()

        say("7. rollout of v2: a shadow step on mirrored traffic, then 25 % and 100 %, each judged on live figures")
        approve_as_owner_on_duty("2", "ok to roll out: production after a clean shadow and canary")
        mlgate("rollout", "start", MODEL, "2", "--steps", "shadow,25,100")
        waited = wait_for_shadow(url)
        print(f"  the gateway's shadow worker loaded v2 and recorded answers in {waited:.0f} s (lowest CPU priority)")
        mlgate("rollout", "run", MODEL, "--poll", "1", "--max-time", "60s", limit=20)

        say("8. a bad canary: v3 calls every sample malignant; `rollout run` judges it on live traffic and aborts")
        uri = log_constant_model()
        mlgate("register", MODEL, "--model-uri", uri, "--card", str(write_bad_model_card()))
        mlgate("promote", MODEL, "3", "--to", "staging", expect=1, limit=12)  # the gate refuses it: no records
        mlgate("rollout", "start", MODEL, "3", "--force", "--reason", "demo: a known-bad canary", limit=8)
        mlgate("rollout", "run", MODEL, "--poll", "1", "--max-time", "60s", expect=1, limit=20)
        if traffic.canary_answer is not None:
            request_id, answered_at = traffic.canary_answer
            say("8b. what served when: the aliases at the moment a client got a canary answer, and who answered it")
            mlgate("status", MODEL, "--at", answered_at, limit=12)
            mlgate("which", MODEL, request_id, limit=12)
            print("  (an alias moved outside mlgate is put back by `mlgate webhook listen` with protected_aliases:")
            print("   shown on a real MLflow server in tests/test_team_webhooks.py: sqlite sends no webhooks)")

        say("9. production monitoring on the gateway's recorded traffic: drift, quality, health, cost, and")
        print("   performance estimated from the model's own confidence (CBPE) before any label has come back")
        mlgate("monitor", MODEL, "--window", "1h", "--report-dir", str(WORK / "reports"), limit=30)
        say("9b. ground truth arrives: labels for answered requests go to the gateway's POST /feedback")
        print(f"  {send_labels(url, traffic.answered, labels)}")
        mlgate("monitor", MODEL, "--window", "1h", "--report-dir", str(WORK / "reports"), limit=30)

        say("10. a bad day in production: the runbook, then rollback in one command")
        mlgate("rollback", MODEL, "--dry-run", limit=30)
        mlgate("rollback", MODEL, "--reason", "demo: v2 hurts the business KPI", limit=30)

        say("10b. a forced release is watched: v3 forced into production, the watch breaches and rolls back itself")
        mlgate("promote", MODEL, "3", "--to", "production", "--force", "--reason", "demo: skip the canary", limit=8)
        mlgate("watch", MODEL, "--for", "45s", "--poll", "1", expect=1, limit=20)
        time.sleep(3)  # let the gateway's clients see the switch
        traffic.stop()
        print(
            f"  client traffic during rollout and rollback: {traffic.sent} requests, {traffic.failed} failed, "
            f"answered by versions {traffic.versions}"
        )
        print(f"  (`mlgate runbook {MODEL} -o runbook.md` writes the same runbook for the on-call wiki)")
    finally:
        gateway.terminate()
        try:
            gateway.wait(timeout=20)
        except subprocess.TimeoutExpired:  # a gateway that does not stop in time is killed, never left behind
            gateway.kill()
            gateway.wait(timeout=10)

    say("11. where things stand")
    mlgate("status", MODEL)
    mlgate("history", MODEL, limit=40)
    inbox.shutdown()
    if AlertInbox.received:
        print(f"  alerts delivered to the owner's webhooks: {len(AlertInbox.received)}")
    say(f"demo finished in {time.monotonic() - started:.0f} s; registry at {STATE.relative_to(ROOT)}/")
    return 0


def send_labels(url: str, answered: dict[str, int], labels: list[int]) -> str:
    """Labels for two thirds of the answered requests (the rest are still unknown), as a client system would send."""
    import requests

    items = [{"request_id": rid, "label": int(labels[row])} for rid, row in list(answered.items())[::3] if rid]
    items += [{"request_id": rid, "label": int(labels[row])} for rid, row in list(answered.items())[1::3] if rid]
    headers = {"Authorization": f"Bearer {ENV['MLGATE_FEEDBACK_TOKEN']}"}
    answer = requests.post(f"{url}/feedback", json={"labels": items}, headers=headers, timeout=30).json()
    return (
        f"POST /feedback: {answer['accepted']} labels accepted of {answer['received']}, "
        f"{answer['unknown_request_ids']} for unknown request ids, {answer['rejected']} rejected"
    )


def wait_for_shadow(url: str, seconds: float = 180) -> float:
    """Seconds until the gateway's shadow worker has loaded the candidate and recorded its first answers."""
    import requests

    started = time.monotonic()
    while time.monotonic() - started < seconds:
        shadow = requests.get(f"{url}/health", timeout=5).json().get("shadow") or {}
        if shadow.get("worker") == "ready" and shadow.get("recorded_rows", 0) >= 30:
            return time.monotonic() - started
        time.sleep(0.5)
    raise SystemExit(f"demo: the gateway's shadow worker did not load within {seconds:.0f} s")


def wait_for(url: str, seconds: float = 60) -> None:
    import requests

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/ping", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    print(f"demo: the gateway did not answer on {url}", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
