"""`make demo DEMO_ROUTER=haproxy`: a rollout and a rollback moving real traffic through HAProxy's runtime API.

Each version runs in its own pool of pinned gateways (`mlgate serve NAME --version V`); HAProxy splits
client traffic between the pools by weight, and mlgate sets and reads back those weights
(traffic_router: haproxy, docs/guides/haproxy.md). The demo prints the split clients observe at each step.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipelines.demo import ENV, MODEL, approve_as_owner_on_duty, mlgate, say  # noqa: E402 - needs ROOT on the path

SAMPLE = int(os.environ.get("DEMO_SAMPLE", "300"))  # requests per observed split
STATE = ROOT / ".mlgate" / "haproxy-demo"  # its own registry: `make demo` keeps .mlgate/mlflow.db
STORE = {
    "MLGATE_TRACKING_URI": f"sqlite:///{STATE / 'mlflow.db'}",
    "MLGATE_ARTIFACT_ROOT": str(STATE / "artifacts"),
    "MLGATE_PREDICTION_STORE_URL": f"sqlite:///{STATE / 'predictions.db'}",
}


def observed(url: str, body: bytes, expected: str) -> None:
    from mlgate.testing.haproxy import observe

    seen = observe(url, body, SAMPLE)
    split = ", ".join(f"v{v} {n / SAMPLE:.1%}" if v else f"failed {n}" for v, n in sorted(seen.items(), key=str))
    print(f"  clients through HAProxy ({SAMPLE} requests): {split}   (expected {expected})", flush=True)


def main() -> int:
    from mlgate.testing.haproxy import INSTALL_HINT, HAProxy, Load, PinnedGateway, find_haproxy
    from mlgate.traffic.haproxy import HAProxyRouter
    from mlgate.traffic.haproxy_api import RuntimeAPI

    started = time.monotonic()
    binary = find_haproxy()
    if binary is None:
        print(f"demo: haproxy not found: {INSTALL_HINT}", file=sys.stderr)
        return 1
    ENV.update(STORE)
    os.environ.update({k: ENV[k] for k in ("MLGATE_ACTOR", "MLFLOW_DISABLE_TELEMETRY", "GX_ANALYTICS_ENABLED")})
    os.environ.update(STORE)
    if STATE.exists():
        say(f"starting from fresh state: removing the previous HAProxy demo registry in {STATE.relative_to(ROOT)}/")
        shutil.rmtree(STATE)
    STATE.mkdir(parents=True)

    say("1. two versions of the example pipeline, trained, recorded and registered")
    from mlgate.config import load_settings
    from pipelines import data
    from pipelines.train import train

    for variant in (0, 1):
        outcome = train(load_settings(cwd=ROOT), variant=variant, register_as=MODEL)
        assert outcome.registration is not None
        print(f"  variant {variant}: registered {MODEL} v{outcome.registration.version}")

    say("2. v1 to production (signed off by the owner on duty)")
    approve_as_owner_on_duty("1", "gate report read")
    mlgate("promote", MODEL, "1", "--to", "production", limit=8)

    say("3. one pool of pinned gateways per version, HAProxy in front, splitting by weight")
    gateways = {v: PinnedGateway(MODEL, v, dict(ENV), STATE / f"gateway-v{v}.log").start() for v in ("1", "2")}
    haproxy = None
    load = None
    try:
        for gateway in gateways.values():
            gateway.wait()
            print(f"  v{gateway.version}: `mlgate serve {MODEL} --version {gateway.version}` on {gateway.url}")
        pools = {v: [f"127.0.0.1:{g.port}"] for v, g in gateways.items()}
        haproxy = HAProxy(f"mlgate_{MODEL}", pools, production="1", binary=binary).start()
        (STATE / "haproxy.cfg").write_text(haproxy.config.read_text())
        print(f"  haproxy on {haproxy.url}, runtime API at {haproxy.socket}")
        print(f"  its config: {STATE.relative_to(ROOT)}/haproxy.cfg (one backend; the pool of version V: servers vV)")
        # What mlflow_config/mlgate.yaml says in a real setup: traffic_router: haproxy, haproxy: {socket: ...}
        ENV.update(MLGATE_TRAFFIC_ROUTER="haproxy", MLGATE_HAPROXY_SOCKET=haproxy.socket, MLGATE_ENDPOINT=haproxy.url)
        row = json.loads(data.builtin_source()[data.FEATURES].head(1).to_json(orient="records"))
        body = json.dumps({"dataframe_records": row}).encode()
        observed(haproxy.url, body, "v1 100%")
        load = Load(haproxy.url, body, pause=0.02).start()  # client traffic all along the rollout and rollback

        say("4. rollout of v2 through HAProxy: 10 %, 50 %, then production; each move read back from HAProxy")
        approve_as_owner_on_duty("2", "ok to roll out through HAProxy")
        mlgate("rollout", "start", MODEL, "2", "--steps", "10,50,100", limit=14)
        observed(haproxy.url, body, "v2 10%")
        mlgate("rollout", "advance", MODEL, limit=14)
        observed(haproxy.url, body, "v2 50%")
        split = HAProxyRouter(RuntimeAPI(haproxy.socket), haproxy.backend).view()
        print(f"  HAProxy's pools (show servers state): {split}")
        mlgate("rollout", "advance", MODEL, limit=14)
        observed(haproxy.url, body, "v2 100%")

        say("5. a shadow step needs the built-in router: HAProxy cannot mirror, so mlgate refuses it")
        mlgate("rollout", "start", MODEL, "1", "--steps", "shadow,50,100", "--force", "--reason", "demo", expect=1)

        say("6. rollback in one command: all traffic back to the last known good v1, smoke-tested through HAProxy")
        mlgate("rollback", MODEL, "--reason", "demo: back to the last known good", limit=20)
        observed(haproxy.url, body, "v1 100%")
        load.stop()
        print(
            f"  client traffic during the rollout and the rollback: {load.sent} requests, {load.failed} failed, "
            f"answered by {dict(sorted((f'v{v}', n) for v, n in load.answers.items() if v))}"
        )
    finally:
        if load is not None:
            load.stop()
        if haproxy is not None:
            haproxy.stop()
        for gateway in gateways.values():
            gateway.stop()
    say(f"demo finished in {time.monotonic() - started:.0f} s; registry at {STATE.relative_to(ROOT)}/")
    return 0 if load is not None and load.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
