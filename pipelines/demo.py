"""`make demo`: the whole release story on the embedded default registry under .mlgate/."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".mlgate"
MODEL = "demo-classifier"
WORK = STATE / "demo"


def say(text: str) -> None:
    print(f"\n=== {text}", flush=True)


def mlgate(*args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
    """Run the mlgate CLI as a user would, show the command and its output."""
    print(f"$ mlgate {shlex.join(args)}", flush=True)
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "mlgate"), *args], cwd=ROOT, text=True, capture_output=True
    )
    out = (proc.stdout + proc.stderr).rstrip()
    if out:
        print("  " + out.replace("\n", "\n  "), flush=True)
    if proc.returncode != expect:
        print(f"demo: expected exit {expect}, got {proc.returncode}", file=sys.stderr)
        sys.exit(1)
    return proc


def fresh_state() -> None:
    if STATE.exists():
        say(f"starting from fresh state: removing the previous demo registry in {STATE}")
        shutil.rmtree(STATE)
    WORK.mkdir(parents=True)


def train_versions() -> list[str]:
    """Train two versions of the example model and log them to the embedded registry."""
    from mlgate.config import load_settings
    from mlgate.testing import log_tiny_model, write_card

    settings = load_settings(cwd=ROOT)
    uris = []
    for seed, max_iter in ((0, 200), (1, 300)):
        uris.append(log_tiny_model(settings, seed=seed, experiment="demo", max_iter=max_iter))
    write_card(WORK / "card.yaml")
    return uris


def main() -> int:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    started = time.monotonic()
    fresh_state()

    say("1. train two versions of the example model")
    uris = train_versions()
    for uri in uris:
        print(f"  logged {uri}")

    say("2. register both with their model card")
    for uri in uris:
        mlgate("register", MODEL, "--model-uri", uri, "--card", str(WORK / "card.yaml"))

    say("3. promote v1 to production (no release gate yet: --force --reason, recorded as forced)")
    mlgate("promote", MODEL, "1", "--to", "production", "--force", "--reason", "first release; gate not built yet")

    say("4. promote v2 to staging, then to production")
    mlgate("promote", MODEL, "2", "--to", "staging")
    mlgate("promote", MODEL, "2", "--to", "production", "--force", "--reason", "demo release; gate not built yet")

    say("5. roll back: first the plan, then the one command")
    mlgate("rollback", MODEL, "--dry-run")
    mlgate("rollback", MODEL, "--reason", "demo: v2 misbehaves in production")

    say("6. where things stand")
    mlgate("status", MODEL)
    mlgate("history", MODEL)

    say(f"demo finished in {time.monotonic() - started:.0f} s; registry at {STATE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
