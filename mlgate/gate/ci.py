"""The gate report in the formats CI systems read: JUnit XML (one testcase per check) and a Markdown summary."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from mlgate.gate.report import ERROR, FAIL, PASS, WARN, GateReport

MARKS = {PASS: "✅ pass", WARN: "⚠️ warn", FAIL: "❌ fail", ERROR: "❌ error"}


def junit_xml(report: GateReport) -> str:
    """One ``<testsuite>`` for the gate, one ``<testcase>`` per check.

    A failed check is a ``<failure>`` whose message is its evidence and whose text adds what to do;
    a check that raised is an ``<error>``; a warning passes but says so in its ``<system-out>`` and in
    a ``status`` property, so a CI system shows it without failing the job.
    """
    counts = {s: sum(r.status == s for r in report.results) for s in (PASS, WARN, FAIL, ERROR)}
    suite = ET.Element(
        "testsuite",
        name=f"mlgate gate: {report.model} v{report.version} ({report.stage})",
        tests=str(len(report.results)),
        failures=str(counts[FAIL]),
        errors=str(counts[ERROR]),
        skipped="0",
        time=f"{report.seconds:.3f}",
        timestamp=report.started_at,
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("model", report.model),
        ("version", report.version),
        ("stage", report.stage),
        ("verdict", report.verdict),
        ("policy_sha256", report.policy_sha256),
        ("report", report.artifacts.get("html", "")),
    ):
        ET.SubElement(properties, "property", name=name, value=value)
    for result in report.results:
        case = ET.SubElement(
            suite,
            "testcase",
            name=result.name,
            classname=f"mlgate.gate.{report.stage}.{result.area.replace(' ', '_')}",
            time=f"{result.seconds:.3f}",
        )
        case_properties = ET.SubElement(case, "properties")
        ET.SubElement(case_properties, "property", name="status", value=result.status)
        text = result.evidence + (f"\nwhat to do: {result.action}" if result.action else "")
        if result.status == FAIL:
            ET.SubElement(case, "failure", message=result.evidence, type="gate check failed").text = text
        elif result.status == ERROR:
            ET.SubElement(case, "error", message=result.evidence, type="gate check raised").text = text
        elif result.status == WARN:
            ET.SubElement(case, "system-out").text = f"WARNING: {text}"
        else:
            ET.SubElement(case, "system-out").text = result.evidence
    if not report.results:  # a gate that ran no check never passes: say so as a failing case
        case = ET.SubElement(suite, "testcase", name="policy", classname=f"mlgate.gate.{report.stage}")
        ET.SubElement(case, "failure", message=report.summary(), type="no check ran").text = report.summary()
        suite.set("tests", "1")
        suite.set("failures", "1")
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"


def summary_markdown(report: GateReport) -> str:
    """A Markdown table of the checks, fit for ``$GITHUB_STEP_SUMMARY`` or a pull-request comment."""
    icon = "✅" if report.passed else "❌"
    lines = [
        f"### {icon} mlgate {report.stage} gate {report.verdict}: {report.model} v{report.version}",
        "",
        report.summary(),
        "",
        "| | check | area | evidence | what to do |",
        "|---|---|---|---|---|",
    ]
    for r in report.results:
        cells = [MARKS.get(r.status, r.status), f"`{r.name}`", r.area, _cell(r.evidence), _cell(r.action)]
        lines.append("| " + " | ".join(cells) + " |")
    if report.artifacts.get("html"):
        lines += ["", f"Full report: `{report.artifacts['html']}` (the version's run in the MLflow UI, Artifacts)."]
    lines += ["", f"Policy sha256 `{report.policy_sha256[:12]}`, {report.seconds:.1f} s."]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """Text that stays inside one Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")
