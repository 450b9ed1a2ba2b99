"""The gateway's ``POST /feedback``: labels for answered requests, batched, behind a bearer token.

    POST /feedback   Authorization: Bearer $MLGATE_FEEDBACK_TOKEN
    {"labels": [{"request_id": "9f1c..", "label": 1}, {"request_id": "77ab..", "label": 0, "row": 2}]}
    -> 200 {"received": 2, "accepted": 2, "replaced": 0, "unknown_request_ids": 0, "rejected": 0, "problems": []}

Items that cannot be labels are named by index in ``problems`` while the rest are stored; a body
that is not JSON, or holds more than MAX_ITEMS labels, is refused whole (400 / 413).
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from mlgate.serving.labels import LabelStore, parse_labels

MAX_ITEMS = 10_000


def receive(body: bytes, authorization: str | None, token: str | None, store: LabelStore) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON answer) for one feedback call."""
    if not token:
        return 403, _error("FORBIDDEN", "feedback is disabled on this gateway: set MLGATE_FEEDBACK_TOKEN to enable it")
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not given or not hmac.compare_digest(given.encode(), token.encode()):
        return 401, _error("UNAUTHENTICATED", "send the feedback token as 'Authorization: Bearer <token>'")
    try:
        payload = json.loads(body or b"null")
    except json.JSONDecodeError as exc:
        return 400, _error("BAD_REQUEST", f"the body is not JSON ({exc.msg} at position {exc.pos})")
    except UnicodeDecodeError:
        return 400, _error("BAD_REQUEST", "the body is not UTF-8 JSON")
    items = payload.get("labels") if isinstance(payload, dict) else payload
    if not isinstance(items, list):
        return 400, _error("BAD_REQUEST", 'send {"labels": [{"request_id": "...", "label": ...}, ...]}')
    if len(items) > MAX_ITEMS:
        return 413, _error("TOO_MANY_LABELS", f"{len(items)} labels in one call; send at most {MAX_ITEMS} per call")
    labels, problems = parse_labels(items)
    return 200, store.add(labels, problems, source="gateway").to_dict()


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error_code": code, "message": message}
