"""The gate report: check outcomes with evidence, as JSON, a self-contained HTML page and version tags."""

from __future__ import annotations

import html
import json
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.config.paths import project_relative, project_root
from mlgate.registry import Event, keys

if TYPE_CHECKING:
    from mlgate.registry import Registry

PASS, FAIL, WARN, ERROR = "pass", "fail", "warn", "error"
SYMBOLS = {PASS: "✓", FAIL: "✗", WARN: "!", ERROR: "✗"}
REPORT_DIR = "mlgate/gate"


@dataclass(frozen=True)
class Outcome:
    """What a check function returns: a status, the evidence seen, and what to do about it."""

    status: str  # pass | fail | warn | error
    evidence: str
    action: str = ""
    details: dict[str, Any] = field(default_factory=dict)


def passed(evidence: str, **details: Any) -> Outcome:
    """A passing outcome with its evidence."""
    return Outcome(PASS, evidence, "", details)


def failed(evidence: str, action: str, **details: Any) -> Outcome:
    """A failing outcome: what was seen, and what to do."""
    return Outcome(FAIL, evidence, action, details)


def warned(evidence: str, action: str = "", **details: Any) -> Outcome:
    """A warning: reported, does not fail the gate."""
    return Outcome(WARN, evidence, action, details)


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome in a report."""

    name: str
    area: str
    status: str
    evidence: str
    action: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True for pass and warn; fail and error block the gate."""
        return self.status in (PASS, WARN)

    @property
    def symbol(self) -> str:
        return SYMBOLS.get(self.status, "?")


@dataclass
class GateReport:
    """The verdict of one gate run: passed only if at least one check ran and none failed."""

    model: str
    version: str
    stage: str
    policy_sha256: str
    policy_sources: list[str]
    started_at: str
    seconds: float
    results: list[CheckResult]
    artifacts: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.ok for r in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.ok]

    @property
    def verdict(self) -> str:
        return "passed" if self.passed else "failed"

    def summary(self) -> str:
        """One line: the verdict and the failed checks."""
        head = f"{self.model} v{self.version}: {self.stage} gate {self.verdict}"
        if not self.results:
            return f"{head}: the policy names no check for {self.stage}, and a gate that ran no check never passes"
        counts = {s: sum(r.status == s for r in self.results) for s in (PASS, WARN, FAIL, ERROR)}
        text = f"{head} ({counts[PASS]} passed, {counts[WARN]} warned, {counts[FAIL] + counts[ERROR]} failed)"
        if self.failures:
            text += ": " + ", ".join(r.name for r in self.failures)
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "stage": self.stage,
            "result": self.verdict,
            "summary": self.summary(),
            "policy_sha256": self.policy_sha256,
            "policy_sources": self.policy_sources,
            "started_at": self.started_at,
            "seconds": self.seconds,
            "checks": [asdict(r) for r in self.results],
            "artifacts": self.artifacts,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, default=str)

    def rows(self) -> list[tuple[str, str, str, str, str]]:
        """(symbol, check, area, evidence, what to do) per check, for a terminal table."""
        return [(r.symbol, r.name, r.area, r.evidence, r.action) for r in self.results]

    def _repr_html_(self) -> str:
        """The report as an HTML table in a notebook."""
        return _table_html(self)

    def to_html(self, root: Path | None = None) -> str:
        """A self-contained HTML page (inline CSS, no scripts) that fits the MLflow UI's artifact view (~800 px).

        Paths under ``root`` (the project) are named relative to it; no absolute path of this machine is shown."""
        title = html.escape(f"{self.model} v{self.version}: {self.stage} gate {self.verdict}")
        sources = ", ".join(html.escape(s) for s in self.policy_sources) or "none"
        page = (
            "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{title}</title><style>{_CSS}</style></head><body>"
            f"<h1 class='{self.verdict}'>{title}</h1>"
            f"<p>{html.escape(self.summary())}</p>"
            f"<p class='meta'>ran {html.escape(self.started_at)} in {self.seconds:.2f} s · policy "
            f"<code>{html.escape(self.policy_sha256[:12])}</code> from {sources}</p>"
            f"{_table_html(self)}</body></html>\n"
        )
        return project_relative(page, root)


_CSS = (  # fits ~800 px (the MLflow artifact viewer): fixed layout, long words wrap; narrower: one card per check
    "body{font-family:system-ui,sans-serif;margin:1em;color:#222;max-width:100%;overflow-wrap:anywhere}"
    "table.mlgate-gate{border-collapse:collapse;width:100%;table-layout:fixed}"
    ".mlgate-gate th,.mlgate-gate td{border:1px solid #ccc;padding:4px 6px;text-align:left;vertical-align:top;"
    "overflow-wrap:anywhere;word-break:break-word}"
    ".mlgate-gate col.sym{width:1.6em}.mlgate-gate col.name{width:20%}.mlgate-gate col.area{width:10%}"
    ".mlgate-gate col.st{width:4.6em}.mlgate-gate col.ev{width:34%}"
    ".mlgate-gate th{background:#f3f3f3;overflow-wrap:normal;word-break:normal}"
    ".pass{color:#137333}.fail,.error{color:#b3261e}.warn{color:#a05a00}"
    "h1{font-size:1.3em}h1.passed{color:#137333}h1.failed{color:#b3261e}.meta{color:#666;font-size:90%}"
    "code,pre{white-space:pre-wrap;overflow-wrap:anywhere}caption{text-align:left;padding:4px 0}"
    "@media (max-width:560px){.mlgate-gate,.mlgate-gate tbody,.mlgate-gate tr,.mlgate-gate td{display:block;width:auto}"
    ".mlgate-gate tr:first-child,.mlgate-gate colgroup{display:none}.mlgate-gate tr{margin:0 0 8px}}"
)


def _table_html(report: GateReport) -> str:
    head = "<tr><th></th><th>check</th><th>area</th><th>status</th><th>evidence</th><th>what to do</th></tr>"
    rows = [
        f"<tr class='{r.status}'><td class='{r.status}'>{r.symbol}</td><td>{html.escape(r.name)}</td>"
        f"<td>{html.escape(r.area)}</td><td class='{r.status}'>{r.status}</td>"
        f"<td>{html.escape(r.evidence)}</td><td>{html.escape(r.action)}</td></tr>"
        for r in report.results
    ]
    if not rows:
        rows = ["<tr><td colspan='6'>no check ran: a gate that runs no check never passes</td></tr>"]
    caption = html.escape(report.summary())
    cols = "".join(f"<col class='{c}'>" for c in ("sym", "name", "area", "st", "ev", "act"))
    cols = f"<colgroup>{cols}</colgroup>"
    return f"<table class='mlgate-gate'><caption>{caption}</caption>{cols}{head}{''.join(rows)}</table>"


def store_report(registry: Registry, report: GateReport) -> GateReport:
    """Attach the JSON and HTML report to the version, set its gate tags and record an event."""
    name, version, stage = report.model, report.version, report.stage
    stamp = report.started_at.replace(":", "").replace("-", "").replace("+0000", "Z").replace("+00:00", "Z")
    folder = f"{REPORT_DIR}/{stage}"
    with tempfile.TemporaryDirectory(prefix="mlgate-report-") as tmp:
        json_file = Path(tmp) / f"report-v{version}-{stamp}.json"
        html_file = Path(tmp) / f"report-v{version}-{stamp}.html"
        report.artifacts = {"json": f"{folder}/{json_file.name}", "html": f"{folder}/{html_file.name}"}
        json_file.write_text(report.to_json())
        html_file.write_text(report.to_html(project_root(registry.settings)))
        registry.log_version_artifact(name, version, json_file, folder)
        registry.log_version_artifact(name, version, html_file, folder)
    registry.set_version_tag(name, version, keys.gate_report_tag(stage), report.artifacts["json"])
    registry.set_version_tag(name, version, keys.gate_policy_hash_tag(stage), report.policy_sha256)
    registry.set_version_tag(name, version, keys.gate_time_tag(stage), report.started_at)
    registry.set_version_tag(name, version, keys.gate_tag(stage), report.verdict)
    registry.record_event(
        Event(
            action=f"gate-{stage}",
            model=name,
            to_version=version,
            actor=registry.settings.actor,
            result="completed" if report.passed else "failed",
            details={
                "result": report.verdict,
                "report": report.artifacts["json"],
                "policy_sha256": report.policy_sha256,
                "failed": [r.name for r in report.failures],
            },
        )
    )
    return report
