"""Benchmark: the streamed batch pass (``mlgate monitor --batch``) on a Parquet batch far bigger than memory.

Run through ``bench/bench_monitor.py --stream``. The batch (20 columns: 15 float64, 5 dictionary-
encoded strings, ~2 % nulls in 8, 3 drifted columns; bench_monitor's ``make_data``) is written
under /tmp, never in the repository: 10 distinct 1M-row chunks, cycled, in 1M-row row groups.
Each pass runs in a child process that reports its wall and CPU time and its own peak RSS
(VmHWM of /proc/self/status, imports included; ru_maxrss would carry the parent's peak over exec).
Side by side, on a smaller file both can hold: the streamed pass and the in-memory pass (the
whole file in pandas, then the same sketches), with their verdicts compared.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from bench.results import write_section
from mlgate.stats.profile import build_profile, save_profile

WORK = Path("/tmp/mlgate-bench-stream")
CHUNK = 1_000_000
DISTINCT = 10
_CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[4])
from mlgate.monitor.run import compute
from mlgate.monitor.stream import judge, plans_for, read_batch, stream_batch
profile = json.load(open(sys.argv[1]))
start, cpu = time.perf_counter(), time.process_time()
if sys.argv[3] == "stream":
    last = [0]
    def progress(done, total):
        if done - last[0] >= total // 10 or done == total:
            last[0] = done
            print(f"  streamed {done:,} / {total:,} rows", file=sys.stderr, flush=True)
    drift, _quality = judge(stream_batch(sys.argv[2], plans_for(profile), progress), profile, None, ("ks", "chi2"))
else:
    drift, _quality = compute(read_batch(sys.argv[2]), profile, None, {}, ("ks", "chi2"), None)[:2]
columns = {**drift.features, **drift.prediction}
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))  # this image's peak, not
print(json.dumps({"wall": time.perf_counter() - start, "cpu": time.process_time() - cpu,  # the parent's (ru_maxrss)
                  "rss_mb": int(hwm.split()[1]) / 1024,
                  "drifted": sorted(drift.drifted), "methods": sorted({c.method for c in columns.values()})}))
"""


def write_batch(path: Path, rows: int, make_data: Callable[..., tuple]) -> None:  # type: ignore[type-arg]
    """``rows`` rows of 10 distinct 1M-row current samples, cycled (kept between runs)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.exists() and pq.ParquetFile(path).metadata.num_rows == rows:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tables = [pa.Table.from_pandas(make_data(CHUNK, seed=100 + i)[1], preserve_index=False) for i in range(DISTINCT)]
    tmp = path.with_suffix(".partial")
    with pq.ParquetWriter(tmp, tables[0].schema) as writer:
        for k in range(rows // CHUNK):
            writer.write_table(tables[k % DISTINCT], row_group_size=CHUNK)
            if k % 10 == 9:
                print(f"  written {(k + 1) * CHUNK:,} rows", file=sys.stderr, flush=True)
    tmp.rename(path)


def child(profile: Path, batch: Path, mode: str) -> dict:  # type: ignore[type-arg]
    root = str(Path(__file__).resolve().parents[1])
    done = subprocess.run([sys.executable, "-c", _CHILD, str(profile), str(batch), mode, root],
                          stdout=subprocess.PIPE, text=True, check=True)  # fmt: skip
    result: dict = json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[type-arg]
    print(f"{mode} {batch.name}: {result}")
    return result


def stream_benchmark(rows: int, compare_rows: int, make_data: Callable[..., tuple]) -> None:  # type: ignore[type-arg]
    WORK.mkdir(parents=True, exist_ok=True)
    profile_path = WORK / "profile.json"
    reference, _ = make_data(CHUNK, seed=0)
    save_profile(build_profile(reference), profile_path)
    big, small = WORK / f"batch-{rows}.parquet", WORK / f"batch-{compare_rows}.parquet"
    write_batch(small, compare_rows, make_data)
    write_batch(big, rows, make_data)
    size_gb = big.stat().st_size / 1e9
    load = os.getloadavg()[0]
    small_stream, small_memory = child(profile_path, small, "stream"), child(profile_path, small, "memory")
    streamed = child(profile_path, big, "stream")
    same = small_stream["drifted"] == small_memory["drifted"]
    lines = [
        f"`mlgate monitor --batch` streamed over a {rows:,}-row x 20-column Parquet file ({size_gb:.1f} GB, 15 float64",
        "and 5 string columns, ~2 % nulls in 8, 3 drifted columns), tests on (`--test ks --test chi2`); one child",
        "process per pass reports its time and its own peak RSS (imports included).",
        "`.venv/bin/python bench/bench_monitor.py --stream` (machine: 2 cores shared with other jobs).",
        "",
        "| pass | rows | wall s | CPU s | peak RSS MB | drifted columns | methods |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, n, r in (
        ("streamed (1M-row chunks, merged sketches)", rows, streamed),
        ("streamed", compare_rows, small_stream),
        ("in memory (whole file in pandas, same sketches)", compare_rows, small_memory),
    ):
        lines.append(f"| {label} | {n:,} | {r['wall']:.1f} | {r['cpu']:.1f} | {r['rss_mb']:.0f} | "
                     f"{', '.join(r['drifted'])} | {', '.join(r['methods'])} |")  # fmt: skip
    lines += [
        "",
        f"Throughput {rows / streamed['wall'] / 1e6:.1f}M rows/s wall, "
        f"{rows / streamed['cpu'] / 1e6:.1f}M rows/s of CPU; "
        f"peak RSS flat ({streamed['rss_mb']:.0f} MB at {rows:,} rows vs {small_stream['rss_mb']:.0f} MB at "
        f"{compare_rows:,}); the in-memory pass holds the whole file ({small_memory['rss_mb']:.0f} MB at "
        f"{compare_rows:,} rows). Same verdicts streamed and in memory: {'yes' if same else 'NO'}.",
        f"Machine load average (1 min) at the start: {load:.1f}, at the end: {os.getloadavg()[0]:.1f}; CPU time is the",
        "figure that survives a shared machine (Parquet decoding runs on Arrow's threads, so CPU can exceed wall).",
    ]
    write_section("monitor-stream", "## Monitoring: streamed batch pass\n\n" + "\n".join(lines))
