"""Install footprint of the core install vs `mlgate[all]`, and `mlgate --help` time on each.

uv venv /tmp/size-core && uv pip install --link-mode=copy -p /tmp/size-core/bin/python -c constraints.txt .
uv venv /tmp/size-all && uv pip install --link-mode=copy -p /tmp/size-all/bin/python -c constraints.txt '.[all]'
python bench/bench_install.py /tmp/size-core /tmp/size-all
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def median_seconds(command: list[str], runs: int = 7) -> float:
    """Median wall time of ``runs`` runs after one warm-up run (it writes the bytecode caches)."""
    subprocess.run(command, capture_output=True, check=True)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def size_mb(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()) // 2**20


def main(venvs: list[str]) -> None:
    print("| install | size | `mlgate --help` (median of 7) | `python -c pass` |")
    print("| --- | --- | --- | --- |")
    for venv in map(Path, venvs):
        helped = median_seconds([str(venv / "bin" / "mlgate"), "--help"])
        bare = median_seconds([str(venv / "bin" / "python"), "-c", "pass"])
        print(f"| {venv.name} | {size_mb(venv)} MB | {helped * 1000:.0f} ms | {bare * 1000:.0f} ms |")
    print(f"load average: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main(sys.argv[1:] or ["/tmp/size-core", "/tmp/size-all"])
