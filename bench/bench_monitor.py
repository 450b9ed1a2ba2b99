"""Benchmark: mlgate's drift + data-quality pass vs Evidently's DataDriftPreset, on 1M rows x 20 columns.

    .venv/bin/python bench/bench_monitor.py [--rows 1000000] [--runs 5] [--skip-evidently]
    .venv/bin/python bench/bench_monitor.py --stream [--stream-rows 100000000] [--compare-rows 5000000]

``--stream`` measures ``mlgate monitor --batch`` on a Parquet batch far bigger than memory
(bench/bench_stream.py: generated under /tmp, never committed): time and peak RSS of a child
process, and the in-memory pass side by side where it fits.

The data: 15 numeric and 5 categorical columns, about 2 % nulls in some of them, a
reference and a current sample of the same size; three columns of the current sample
drift (num_00 shifted, num_01 rescaled, cat_00 re-weighted).

Side by side in one run:
- mlgate: ``drift`` (PSI on the reference profile's bins for every column) + ``check_quality``
  (null rates, unseen categories) against a profile built once beforehand, as at training;
- the numpy floor: the bare counting such a pass cannot avoid (null counts, one comparison
  per bin edge per numeric column, one value count per categorical column), no result objects;
- Evidently 0.7 ``Report([DataDriftPreset()])``: it does not import with pandas 3, so the
  benchmark makes its own virtual environment under bench/.work/ (pandas<3, evidently 0.7.x),
  hands it the same data as Parquet and times ``report.run`` there in a subprocess.
Medians of ``--runs`` runs (Evidently: one run unless --evidently-runs is given; it takes a minute).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from bench.results import median, write_section
from mlgate.monitor.drift import drift
from mlgate.monitor.quality import check_quality
from mlgate.stats.profile import build_profile

WORK = Path(__file__).parent / ".work"
VENV = WORK / "evidently-venv"
EVIDENTLY_REQUIREMENTS = ["pandas<3", "evidently==0.7.*", "pyarrow"]
DRIFTED = ["cat_00", "num_00", "num_01"]
_EVIDENTLY_SCRIPT = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
ref = pd.read_parquet(sys.argv[1]); cur = pd.read_parquet(sys.argv[2]); runs = int(sys.argv[3])
times, cpu, drifted = [], [], []
for _ in range(runs):
    start, start_cpu = time.perf_counter(), time.process_time()
    snapshot = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
    data = snapshot.dict()
    times.append(time.perf_counter() - start)
    cpu.append(time.process_time() - start_cpu)
drifted = []
for metric in data["metrics"]:
    name = metric.get("metric_name") or metric.get("metric_id") or ""
    if name.startswith("ValueDrift("):
        parts = dict(p.split("=", 1) for p in name[len("ValueDrift("):-1].split(","))
        value, threshold = float(metric["value"]), float(parts["threshold"])
        is_drift = value < threshold if "p_value" in parts["method"] else value >= threshold
        if is_drift:
            drifted.append(parts["column"])
import evidently
print(json.dumps({"times": times, "cpu": cpu, "drifted": sorted(drifted), "version": evidently.__version__,
                  "pandas": pd.__version__}))
"""


def make_data(rows: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current frames: 15 numeric + 5 categorical columns, some nulls, 3 drifted columns."""
    rng = np.random.default_rng(seed)

    def sample(drifted: bool) -> pd.DataFrame:
        data: dict[str, object] = {}
        for i in range(15):
            values = rng.normal(10.0 * i, 1.0 + i, rows)
            if drifted and i == 0:
                values = values + 0.5  # a half-sigma shift
            if drifted and i == 1:
                values = 10.0 + (values - 10.0) * 1.8  # wider spread
            if i % 3 == 0:
                values[rng.random(rows) < 0.02] = np.nan
            data[f"num_{i:02d}"] = values
        levels = np.array([f"level_{k}" for k in range(8)])
        for j in range(5):
            weights = np.linspace(1.0, 2.0, 8)
            if drifted and j == 0:
                weights = weights[::-1] ** 3  # re-weighted categories
            column = pd.Series(rng.choice(levels, rows, p=weights / weights.sum()), dtype="str")
            if j % 2 == 0:
                column[rng.random(rows) < 0.02] = None
            data[f"cat_{j:02d}"] = column
        return pd.DataFrame(data)

    return sample(False), sample(True)


def mlgate_pass(profile: dict, current: pd.DataFrame) -> list[str]:
    result = drift(profile, current)
    check_quality(current, profile, drift_result=result)
    return sorted(result.drifted)


def numpy_floor(profile: dict, current: pd.DataFrame) -> None:
    """The counting a drift + null-rate pass cannot avoid, with nothing else around it."""
    for name, ref in profile["features"].items():
        series = current[name]
        if ref["kind"] == "numeric":
            values = series.to_numpy(dtype="float64", na_value=np.nan)
            np.count_nonzero(np.isnan(values))
            for edge in ref["edges"]:
                np.count_nonzero(values < edge)
        else:
            series.value_counts(dropna=False, sort=False)


def timed(fn, runs: int) -> list[tuple[float, float]]:  # type: ignore[no-untyped-def]
    """(wall seconds, CPU seconds of this process) of each run."""
    times = []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        times.append((time.perf_counter() - start, time.process_time() - start_cpu))
    return times


def ensure_evidently_venv() -> Path:
    """bench/.work/evidently-venv with pandas<3 and evidently 0.7 (made once)."""
    python = VENV / "bin" / "python"
    probe = [str(python), "-c", "import evidently, pandas; assert pandas.__version__ < '3'"]
    if python.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return python
    WORK.mkdir(parents=True, exist_ok=True)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *EVIDENTLY_REQUIREMENTS], check=True)
    return python


def run_evidently(reference: pd.DataFrame, current: pd.DataFrame, runs: int) -> dict:
    python = ensure_evidently_venv()
    ref_path, cur_path = WORK / "reference.parquet", WORK / "current.parquet"
    reference.to_parquet(ref_path)
    current.to_parquet(cur_path)
    script = WORK / "evidently_run.py"
    script.write_text(_EVIDENTLY_SCRIPT)
    done = subprocess.run(
        [str(python), str(script), str(ref_path), str(cur_path), str(runs)],
        capture_output=True, text=True, check=False, env={**os.environ, "DO_NOT_TRACK": "1"},
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"evidently failed:\n{done.stderr[-3000:]}")
    result: dict = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--evidently-runs", type=int, default=1)
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--stream", action="store_true", help="Benchmark the streamed batch pass instead (below).")
    parser.add_argument("--stream-rows", type=int, default=100_000_000)
    parser.add_argument("--compare-rows", type=int, default=5_000_000)
    args = parser.parse_args()
    if args.stream:
        from bench.bench_stream import stream_benchmark

        stream_benchmark(args.stream_rows, args.compare_rows, make_data)
        return

    reference, current = make_data(args.rows)
    start = time.perf_counter()
    profile = build_profile(reference)
    profile_seconds = time.perf_counter() - start
    found = mlgate_pass(profile, current)
    load_before = os.getloadavg()[0]
    ours_times: list[tuple[float, float]] = []
    floor_times: list[tuple[float, float]] = []
    for _ in range(args.runs):  # interleaved, so both see the same load on a shared machine
        ours_times += timed(lambda: mlgate_pass(profile, current), 1)
        floor_times += timed(lambda: numpy_floor(profile, current), 1)
    ours, floor = median([t[0] for t in ours_times]), median([t[0] for t in floor_times])
    ours_cpu, floor_cpu = median([t[1] for t in ours_times]), median([t[1] for t in floor_times])
    print(f"mlgate drift+quality: {ours:.3f} s (drifted: {found}); numpy floor {floor:.3f} s; "
          f"profile built once in {profile_seconds:.2f} s")  # fmt: skip
    lines = [
        f"Drift + data quality on {args.rows:,} rows x 20 columns (15 numeric, 5 categorical, ~2 % nulls in 8),",
        "3 drifted columns, against a reference of the same size. Medians; "
        "`.venv/bin/python bench/bench_monitor.py` (machine: 2 shared cores).",
        "",
        "| pass | wall s | CPU s | CPU vs mlgate | drifted columns found |",
        "|---|---|---|---|---|",
        f"| mlgate `drift` + `check_quality` (median of {args.runs}) | {ours:.3f} | {ours_cpu:.3f} | 1x | "
        f"{', '.join(found)} |",
        f"| numpy floor: the bare counting (median of {args.runs}) | {floor:.3f} | {floor_cpu:.3f} | "
        f"{floor_cpu / ours_cpu:.2f}x | - |",
    ]
    if not args.skip_evidently:
        evidently = run_evidently(reference, current, args.evidently_runs)
        theirs, theirs_cpu = median(evidently["times"]), median(evidently["cpu"])
        print(f"evidently {evidently['version']}: {theirs:.1f} s, CPU {theirs_cpu:.1f} s")
        label = f"Evidently {evidently['version']} `DataDriftPreset` (pandas {evidently['pandas']}, "
        label += f"{len(evidently['times'])} run)"
        row = f"| {label} | {theirs:.1f} | {theirs_cpu:.1f} | {theirs_cpu / ours_cpu:.0f}x | "
        lines.append(row + f"{', '.join(evidently['drifted'])} |")
        lines += [
            "",
            f"In CPU time mlgate is **{theirs_cpu / ours_cpu:.0f}x faster than Evidently** "
            f"(wall: {theirs / ours:.0f}x; target >= 100x) and **{ours_cpu / floor_cpu:.2f}x the numpy floor** "
            f"(wall {ours / floor:.2f}x; target <= 3x); "
            "same drifted columns: "
            f"{'yes' if found == evidently['drifted'] == DRIFTED else 'NO'} (planted: {', '.join(DRIFTED)}).",
        ]
    lines += [
        "",
        f"Machine load average (1 min, 2 cores): {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end;",
        "CPU time (time.process_time of the process doing the work) is the figure that survives a busy machine.",
        f"The reference profile is built once, at training ({profile_seconds:.2f} s here), and a pass needs only it;",
        "Evidently re-reads the whole reference on every run. PSI threshold 0.2; Evidently's defaults",
        "(Wasserstein / Jensen-Shannon distance, threshold 0.1, for more than 1,000 rows).",
    ]
    write_section("monitor", "## Monitoring: drift + data quality\n\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
