"""A Prometheus HTTP API client for analysis: one templated PromQL query in, one number (or nothing) out.

    prom = Prometheus("http://127.0.0.1:9090")
    text = render('sum(increase(mlgate_requests_total{model="{model}"}[{window}]))', model="iris", window="300s")
    prom.value(text, at=until, name="requests")      # a float (NaN kept), None for an empty result

``/api/v1/query`` answers ``{"status": "success", "data": {"resultType": ..., "result": ...}}``: a
``vector`` is a list of ``{"metric": {...}, "value": [t, "1.5"]}``, a ``scalar`` is ``[t, "1.5"]``;
sample values are strings, "NaN" and "+Inf" included. Errors come as ``{"status": "error",
"errorType", "error"}`` with HTTP 400 (bad query), 422 (cannot execute) or 503 (timed out).
A server that does not answer raises MetricSourceUnavailable (analysis is then inconclusive); a query
refused, or one that returns several series where one number is needed, raises MetricSourceError
naming the query.
"""

from __future__ import annotations

import json
import math
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from mlgate.exceptions import MetricSourceError, MetricSourceUnavailable

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")  # {model}; PromQL matchers always hold an operator


def placeholders(template: str) -> set[str]:
    """The ``{name}`` placeholders of a query template."""
    return set(PLACEHOLDER.findall(template))


def _label_value(value: Any) -> str:
    """A value made safe inside a PromQL double-quoted label value."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(template: str, **values: Any) -> str:
    """Fill ``{name}`` placeholders (label values escaped); placeholders without a value are left as written."""
    return PLACEHOLDER.sub(lambda m: _label_value(values[m[1]]) if m[1] in values else m[0], template)


def duration(seconds: float) -> str:
    """A PromQL range duration of whole seconds, at least 1s (``[{window}]`` in a template)."""
    return f"{max(1, round(seconds))}s"


def number(text: Any) -> float:
    """A sample value as Prometheus writes it ("1.5", "NaN", "+Inf") as a float."""
    try:
        return float(text)
    except (TypeError, ValueError):
        raise MetricSourceError(f"Prometheus answered a sample value {text!r} that is not a number") from None


class Prometheus:
    """Instant queries against one Prometheus server (``url`` is its base, e.g. http://prometheus:9090)."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _unavailable(self, why: str) -> MetricSourceUnavailable:
        return MetricSourceUnavailable(
            f"Prometheus at {self.url} did not answer: {why}",
            f"check that Prometheus runs and is reachable at {self.url} (analysis.url in rollout.yaml)",
        )

    def query(self, promql: str, at: float | None = None, name: str = "query") -> dict[str, Any]:
        """The ``data`` of one instant query (``resultType`` and ``result``), evaluated at ``at`` (now if None)."""
        params = {"query": promql, "timeout": f"{self.timeout:g}s"}
        if at is not None:
            params["time"] = f"{at:.3f}"
        body = urllib.parse.urlencode(params).encode()
        request = urllib.request.Request(
            self.url + "/api/v1/query", data=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout + 1) as answer:
                status, raw = answer.status, answer.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except (TimeoutError, urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise self._unavailable(str(getattr(reason, "strerror", None) or reason)) from None
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or "status" not in payload:
            if status >= 500:
                raise self._unavailable(f"HTTP {status}")
            raise MetricSourceError(
                f"{self.url} answered HTTP {status} to the {name} query, not like a Prometheus API",
                "set analysis.url in rollout.yaml to Prometheus' base URL (without /api/v1)",
            )
        if payload["status"] != "success":
            if status == 503 or payload.get("errorType") in ("timeout", "canceled", "unavailable"):
                raise self._unavailable(f"{payload.get('errorType')}: {payload.get('error')}")
            raise MetricSourceError(
                f"Prometheus at {self.url} refused the {name} query `{promql}`: "
                f"{payload.get('errorType')}: {payload.get('error')}",
                "fix the query in rollout.yaml (analysis.queries or analysis.metrics)",
            )
        data = payload.get("data")
        if not isinstance(data, dict) or "resultType" not in data:
            raise MetricSourceError(f"Prometheus at {self.url} answered the {name} query without a result")
        return data

    def value(self, promql: str, at: float | None = None, name: str = "query") -> float | None:
        """The one number a query gives: None when it returns no series, NaN kept (the caller decides).

        Several series, a range vector or a string are errors naming the query: aggregate it (``sum(...)``).
        """
        data = self.query(promql, at, name)
        kind, result = data["resultType"], data.get("result")
        if kind == "scalar" and isinstance(result, list):
            return number(result[1])
        if kind == "vector" and isinstance(result, list):
            if not result:
                return None
            if len(result) > 1:
                labels = ", ".join("{" + ",".join(f'{k}="{v}"' for k, v in sorted(s["metric"].items())) + "}"
                                   for s in result[:3])  # fmt: skip
                raise MetricSourceError(
                    f"the {name} query `{promql}` returned {len(result)} series where one is needed: {labels}",
                    "aggregate it to one number, e.g. sum(...) or sum without (instance) (...)",
                )
            return number(result[0]["value"][1])
        raise MetricSourceError(
            f"the {name} query `{promql}` returned a {kind}, not one number",
            "make it an instant query giving one number: no [range] selector at the top, e.g. sum(rate(x[5m]))",
        )


def finite(value: float | None) -> float | None:
    """``value`` when it is a finite number, else None (an empty result, NaN or an infinity)."""
    return value if value is not None and math.isfinite(value) else None
