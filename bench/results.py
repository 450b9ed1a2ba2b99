"""Write one benchmark's section into bench/RESULTS.md, replacing its previous figures."""

from __future__ import annotations

import os
import re
import statistics
from collections.abc import Sequence
from pathlib import Path

RESULTS = Path(__file__).parent / "RESULTS.md"


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def write_section(key: str, markdown: str) -> None:
    """Replace the section between <!-- begin:key --> and <!-- end:key --> (append it if new).

    BENCH_DRY_RUN=1 in the environment leaves RESULTS.md alone (a quick check with the smallest settings)."""
    if os.environ.get("BENCH_DRY_RUN"):
        return
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    block = f"<!-- begin:{key} -->\n{markdown.strip()}\n<!-- end:{key} -->"
    pattern = re.compile(rf"<!-- begin:{re.escape(key)} -->.*?<!-- end:{re.escape(key)} -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(text)
