"""JSON off the version's tags: `mlgate status` and card reads on 20 versions, old tag format vs migrated.

Builds one sqlite registry with 20 versions (as `mlgate register` writes them now), copies it and adds
what the previous release kept as JSON version tags (card, smoke reference, two approvals per version),
then times `status` on the old-format copy, migrates it, and times `status` again; plus reading a
card from its old tag, from its file (first read in a process) and from the per-process cache.

    .venv/bin/python bench/bench_version_tags.py [--versions 20] [--runs 15]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

NAME = "bench-tags"


def median_ms(fn, runs: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1000, 1)


def add_old_tags(registry, versions: list[str]) -> None:  # type: ignore[no-untyped-def]
    from mlgate.registry import keys
    from mlgate.registry.approvals import Decision
    from mlgate.testing import card_dict

    payload = json.dumps({"dataframe_split": {"columns": list("abcd"), "data": [[5.1, 3.5, 1.4, 0.2]] * 3}})
    for i, v in enumerate(versions):
        registry.set_version_tag(NAME, v, keys.CARD, json.dumps(card_dict(), sort_keys=True))
        reference = {"format": 1, "version": v, "payload": payload, "rows": 3, "predictions": [0, 0, 0]}
        reference["payload_sha256"] = hashlib.sha256(payload.encode()).hexdigest()
        registry.set_version_tag(NAME, v, keys.SMOKE_REFERENCE, json.dumps(reference))
        for j, who in enumerate(("alice", "bob")):
            d = Decision("approve", "production", who, f"2026-11-30T09:{i:02d}:{j:02d}+00:00", "ok", gate_report={})
            registry.set_version_tag(NAME, v, f"{keys.APPROVAL_PREFIX}production.{i * 10 + j:020d}.b{j}", d.to_json())


def tag_figures(registry, versions: list[str]) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    from mlgate.registry import keys

    counts, sizes = [], []
    for v in versions:
        tags = {k: val for k, val in (registry.version(NAME, v).tags or {}).items() if k.startswith(keys.PREFIX)}
        counts.append(len(tags))
        sizes.append(sum(len(k) + len(val) for k, val in tags.items()))
    return statistics.mean(counts), int(statistics.mean(sizes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=20)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    from mlgate import api
    from mlgate.registry import card as card_module
    from mlgate.registry.approvals import stored_decisions
    from mlgate.registry.card import card_from_tags, stored_card
    from mlgate.testing import registry_with_versions, throwaway_registry

    with tempfile.TemporaryDirectory(prefix="bench-tags-") as tmp:
        new_dir, old_dir = Path(tmp) / "new", Path(tmp) / "old"
        fresh = registry_with_versions(new_dir, NAME, args.versions)
        shutil.copytree(new_dir, old_dir)  # the runs' artifacts stay where the copied store says: shared
        old = throwaway_registry(old_dir)
        versions = [str(mv.version) for mv in old.versions(NAME)]
        add_old_tags(old, versions)
        rows = {}
        rows["status, new format"] = median_ms(lambda: api.status(NAME, registry=fresh), args.runs)
        rows["status, old format (JSON tags)"] = median_ms(lambda: api.status(NAME, registry=old), args.runs)
        before = tag_figures(old, versions)
        start = time.perf_counter()
        api.migrate(NAME, registry=old)
        rows["migrate (one-off)"] = round((time.perf_counter() - start) * 1000, 1)
        rows["status, old format after migrate"] = median_ms(lambda: api.status(NAME, registry=old), args.runs)
        after = tag_figures(old, versions)
        rows["approvals of every version, after migrate (one search)"] = median_ms(
            lambda: stored_decisions(old, NAME), args.runs
        )
        card, _ = stored_card(fresh, fresh.version(NAME, versions[0]))
        assert card is not None
        tags = {"mlgate.card": json.dumps(card.to_dict())}
        rows["card from the old tag (parse)"] = median_ms(lambda: card_from_tags(tags), args.runs)
        first = []
        for v in versions:
            mv = fresh.version(NAME, v)
            card_module._READ.clear()
            start = time.perf_counter()
            stored_card(fresh, mv)
            first.append(time.perf_counter() - start)
        rows["card from its file, first read in a process"] = round(statistics.median(first) * 1000, 1)
        rows["card from its file, cached"] = median_ms(lambda: stored_card(fresh, mv), args.runs)
    for what, ms in rows.items():
        print(f"{what:48s} {ms:8.1f} ms")
    print(f"mlgate.* tags per version: {before[0]:.1f} ({before[1]:,} chars) before migrate, "
          f"{after[0]:.1f} ({after[1]:,} chars) after")  # fmt: skip


if __name__ == "__main__":
    main()
