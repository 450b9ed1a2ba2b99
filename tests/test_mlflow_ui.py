"""The MLflow UI tells the story: a real `mlflow server` page, rendered by headless Chromium, read as a person would.

A model goes register → gate (staging, production) → promote twice on a sqlite store; `mlflow server`
then serves that store and Chromium renders the registered model's page and a version's page (the
UI is a React app: ``--dump-dom`` after a virtual-time budget gives the DOM it built). The gate and
monitoring HTML reports are rendered in an 800 px wide window (the MLflow artifact viewer's width).
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from mlgate import api
from mlgate.monitor.report import render_html
from mlgate.monitor.run import PassResult
from mlgate.registry import Event, Registry, describe, keys
from tests.backends import MlflowServer, clean_env
from tests.browser import FLAGS, require_chromium

NAME = "churn"
POLICY = {"stages": {s: ["card_complete", "description_present"] for s in ("staging", "production")}}


def _render(url: str, chromium: str, profile: Path, width: int = 1280, budget_ms: int = 20000) -> str:
    """The DOM Chromium built for ``url``. Virtual time runs only while nothing loads, so a long budget costs
    little; one ``profile`` for every page lets later pages reuse the UI's scripts from its cache."""
    command = [chromium, *FLAGS, f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}",
               f"--window-size={width},1000", "--hide-scrollbars", "--dump-dom", url]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0 and "<html" in done.stdout.lower(), done.stderr[-2000:]
    return done.stdout


def _text(dom: str) -> str:
    """What a person reads: the DOM without scripts, styles and tags, whitespace folded."""
    visible = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S | re.I)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", visible)).split())


_MEASURE = """<script>
window.addEventListener('load', function () {
  var widest = 0, what = '';
  document.querySelectorAll('body *').forEach(function (el) {
    var right = el.getBoundingClientRect().right;
    if (right > widest) { widest = right; what = el.tagName + ' ' + (el.textContent || '').slice(0, 60); }
  });
  var pre = document.createElement('pre'); pre.id = 'measured';
  pre.textContent = JSON.stringify({viewport: window.innerWidth, scroll: document.documentElement.scrollWidth,
                                    widest: widest, what: what});
  document.body.appendChild(pre);
});
</script>"""


def _measure(page: str, folder: Path, chromium: str) -> dict[str, object]:
    """Open ``page`` (HTML text) in an 800 px window: the viewport, the document's scroll width, the widest element."""
    index = page.lower().rfind("</body>")
    path = folder / f"measure-{len(list(folder.glob('measure-*')))}.html"
    path.write_text(page[:index] + _MEASURE + page[index:])
    dom = _render(path.resolve().as_uri(), chromium, folder / "profile", width=800, budget_ms=3000)
    found = re.search(r'<pre id="measured">(.*?)</pre>', dom, re.S)
    assert found is not None, "the measuring script did not run"
    measured: dict[str, object] = json.loads(html.unescape(found.group(1)))
    return measured


def _monitor_result(project: Path) -> PassResult:
    """A monitoring pass with long names, long texts and paths inside and outside the project."""
    long_name = "customer_lifetime_value_in_the_last_ninety_days_normalised_by_region_" * 2
    drift = {
        "features": {
            long_name: {"name": long_name, "kind": "numeric", "psi": 0.31, "drifted": False, "method": "psi",
                        "test": "ks p=0.0001 " + "x" * 150},
            "plan": {"name": "plan", "kind": "categorical", "psi": 0.01, "drifted": False, "chi2_p_value": 0.5},
        },
        "prediction": {},
        "drifted": [],
    }  # fmt: skip
    quality = {
        "anomalies": [f"column {long_name}: 12 % missing, contract allows 1 % ({'y' * 200})"],
        "contract": str(project / "mlflow_config" / "contracts" / "churn.yaml"),
    }
    health = {"requests": 1234, "error_rate": 0.01, "latency_p50_ms": 3.0, "latency_p95_ms": 9.0,
              "latency_p99_ms": 20.0, "throughput_rps": 40.0, "timeline": []}  # fmt: skip
    rule = "drift.max_psi > 0.25 for the " + long_name + " feature over the last 6 h window"
    return PassResult(
        model=NAME,
        version="2",
        at="2026-12-02T06:00:00+00:00",
        source=f"batch {project / 'data' / 'scoring' / 'batch-2026-12-02.parquet'}",
        rows=5000,
        window_label="batch",
        drift=SimpleNamespace(to_dict=lambda: drift),
        quality=SimpleNamespace(to_dict=lambda: quality),
        health=SimpleNamespace(to_dict=lambda: health),
        checks=[{"rule": rule, "severity": "page", "value": 0.31, "breached": True}],
    )


@pytest.mark.timeout(600)  # about a minute on an idle machine; Chromium drawing the React UI is the slow part
def test_the_mlflow_ui_tells_the_story_and_the_reports_fit_its_viewer(
    registry: Registry, model_uri: str, card_path: Path, tmp_path: Path
) -> None:
    chromium = require_chromium()
    assert registry.settings.config_dir is not None
    # `mlflow server` on the test's store starts (seconds) while mlgate writes to it
    server = MlflowServer(registry.settings.tracking_uri, tmp_path / "served", tmp_path / "server.log", clean_env())
    starting = ThreadPoolExecutor(1).submit(server.start, 300.0)
    try:
        project = registry.settings.config_dir.parent
        (registry.settings.config_dir / "policy.yaml").write_text(yaml.safe_dump(POLICY))
        for release in ("first release", "retrained on November"):
            version = api.register(NAME, model_uri, card_path, registry=registry).version
            for stage in ("staging", "production"):
                api.check(NAME, version, stage, registry=registry)
            api.promote(NAME, version, "production", reason=release, registry=registry)

        # what mlgate wrote (the UI shows it below): a bounded summary, the card kept above the release section
        summary = registry.model(NAME).description or ""
        assert len(summary) <= describe.MAX_SUMMARY
        v2 = registry.version(NAME, "2")
        assert (v2.description or "").index("**Owner:**") < (v2.description or "").index(describe.RELEASE_HEADING)
        report_path = v2.tags[keys.gate_report_tag("production")]

        # the gate's HTML report, as the MLflow artifact viewer shows it: fits 800 px, no path of this machine
        folder = tmp_path / "pages"
        folder.mkdir()
        gate_html = registry.download_version_artifact(NAME, "2", report_path[:-5] + ".html", folder / "dl").read_text()
        monitor_html = render_html(_monitor_result(project), root=project)
        for page in (gate_html, monitor_html):
            assert str(tmp_path) not in page and str(project) not in page and tempfile.gettempdir() + "/" not in page
            measured = _measure(page, folder, chromium)
            assert measured["viewport"] == 800, measured
            assert measured["scroll"] == 800 and float(str(measured["widest"])) <= 800, measured
        assert "mlflow_config/policy.yaml" in gate_html  # the policy named relative to the project
        assert "data/scoring/batch-2026-12-02.parquet" in monitor_html

        starting.result()
        model_page = _text(_render(f"{server.url}/#/models/{NAME}", chromium, folder / "profile"))
        version_page = _text(_render(f"{server.url}/#/models/{NAME}/versions/2", chromium, folder / "profile"))
    finally:
        starting.exception()  # waits: never stopped while it starts
        server.stop()

    # the registered model's page: the live summary, who did what and why, what to run when it breaks
    for seen in ("Production: v2", "Canary: none", "Last known good: v1", f"mlgate rollback {NAME}",
                 f"mlgate runbook {NAME}", "promote-production v1 → v2 by tester: retrained on November",
                 "gate-production v2 by tester"):  # fmt: skip
        assert seen in model_page, f"{seen!r} is not on the model page: {model_page[:3000]}"
    head = model_page[model_page.index("Description") : model_page.index("Versions")]  # description and model tags
    assert "{" not in head and "mlgate.event." not in head, head
    # a version's page: its card, then the release section with each gate's verdict and report
    for seen in ("Owner: ml-platform@example.com", "Status: production", "Gate production : ✅ passed",
                 "Gate staging : ✅ passed", report_path[:-5] + ".html",
                 "Smoke test in production: passed"):  # fmt: skip
        assert seen in version_page, f"{seen!r} is not on the version page: {version_page[:3000]}"
    # ... and no raw JSON among its tags: the card, smoke reference and approvals live off the page
    assert '{"' not in version_page and keys.CARD not in version_page, version_page[:3000]
    assert keys.SMOKE_REFERENCE not in version_page and keys.APPROVAL_PREFIX not in version_page


def test_the_summary_follows_every_transition_stays_small_and_never_fails_one(
    registry: Registry, model_uri: str, card_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    v1 = api.register(NAME, model_uri, card_path, registry=registry).version
    v2 = api.register(NAME, model_uri, card_path, registry=registry).version
    registry.set_alias(NAME, "production", v1)
    registry.set_alias(NAME, "canary", v2)
    registry.set_model_tag(NAME, keys.CANARY_WEIGHT, "25")
    for step in range(12):  # long reasons: the summary keeps the newest five, each cut short
        registry.record_event(Event("rollout-step", NAME, v1, v2, actor="ci", reason=f"step {step} " + "why " * 200))
    summary = registry.model(NAME).description or ""
    assert "- **Production:** v1" in summary and "- **Canary:** v2 at 25 % of traffic" in summary
    assert "step 11" in summary and "step 6" not in summary and len(summary) <= describe.MAX_SUMMARY

    def refused(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the registry refused the description")

    monkeypatch.setattr(registry.client, "update_registered_model", refused)
    registry.record_event(Event("rollout-step", NAME, v1, v2, actor="ci", reason="the last step"))
    assert [e.reason for e in api.history(NAME, limit=1, registry=registry)] == ["the last step"]  # recorded
    assert "the last step" not in (registry.model(NAME).description or "")  # only the description lags
