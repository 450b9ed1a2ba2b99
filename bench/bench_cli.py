"""How fast `mlgate --help` answers, next to the python+click floor and an `import mlflow`."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from results import median, write_section

BIN = Path(sys.executable).parent
RUNS = 15
CASES = {
    "python -c 'import click' (floor)": [sys.executable, "-c", "import click"],
    "mlgate --help": [str(BIN / "mlgate"), "--help"],
    "mlgate promote --help": [str(BIN / "mlgate"), "promote", "--help"],
    "mlgate rollback --help": [str(BIN / "mlgate"), "rollback", "--help"],
    "python -c 'import mlflow'": [sys.executable, "-c", "import mlflow"],
}


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    figures: dict[str, float] = {}
    for _ in range(2):  # warm the page cache
        for cmd in CASES.values():
            timed(cmd)
    samples: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(RUNS):  # interleaved, so background noise hits every case alike
        for name, cmd in CASES.items():
            samples[name].append(timed(cmd))
    figures = {name: median(values) for name, values in samples.items()}
    floor = figures["python -c 'import click' (floor)"]
    rows = [f"| `{name}` | {ms:.0f} ms | {ms / floor:.2f}x |" for name, ms in figures.items()]
    verdict = "meets" if figures["mlgate --help"] <= 100 else "MISSES"
    write_section(
        "cli",
        "\n".join(
            [
                "## CLI start-up (`.venv/bin/python bench/bench_cli.py`)",
                "",
                f"Median of {RUNS} interleaved runs, wall time of the whole process. "
                f"Target `mlgate --help` <= 100 ms: {verdict} it.",
                "",
                "| command | median | vs floor |",
                "|---|---|---|",
                *rows,
            ]
        ),
    )
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
