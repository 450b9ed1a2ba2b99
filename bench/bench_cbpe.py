"""CBPE without labels: mlgate's estimate against the realized metric, beside NannyML's CBPE on the same chunks.

    .venv/bin/python bench/bench_cbpe.py [--seeds 20] [--nannyml-python /tmp/nml/bin/python]

NannyML's own venv: ``python3 -m venv /tmp/nml && /tmp/nml/bin/pip install nannyml statsmodels`` (0.13.1 here).

A seeded covariate shift where labels exist: a logistic model trained on N(0, I) features, its
reference (evaluation) set of 2,000 rows, then chunks of 1,000 rows whose feature means move from
0 to 1 sigma while P(label | features) stays fixed. For each chunk: the realized accuracy and ROC AUC
(labels), mlgate's estimate and band, and NannyML's CBPE estimate when a Python with NannyML is given
(its own virtualenv: NannyML pins libraries mlgate's venv does not). Writes its section of RESULTS.md.

A second table is the demo's case: a random forest on scikit-learn's breast-cancer set, an evaluation
set of only 140 rows (as `make demo` has), and the remaining 129 rows as one served chunk.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.results import median, write_section
from mlgate.stats.cbpe import calibrate, estimate

SHIFTS = (0.0, 0.25, 0.5, 0.75, 1.0)
CHUNK = 1000

_NANNYML = r"""
import json, sys, warnings
warnings.filterwarnings("ignore")
import pandas as pd, nannyml as nml
reference, analysis = pd.read_parquet(sys.argv[1]), pd.read_parquet(sys.argv[2])
cbpe = nml.CBPE(y_pred_proba="p", y_pred="pred", y_true="y", problem_type="classification_binary",
                metrics=["roc_auc", "accuracy"], chunk_size=int(sys.argv[3]))
cbpe.fit(reference)
out = cbpe.estimate(analysis).filter(period="analysis").to_df()
print(json.dumps({f"{m}_{c}": out[(m, c)].tolist() for m in ("roc_auc", "accuracy")
                  for c in ("value", "lower_confidence_boundary", "upper_confidence_boundary")}))
"""


def population(rng: np.random.Generator, n: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(shift, 1.0, (n, 2))
    p = 1.0 / (1.0 + np.exp(-(1.5 * x[:, 0] - x[:, 1] + 0.3)))
    return x, (rng.random(n) < p).astype(int)


def shifted(seed: int) -> tuple[np.ndarray, np.ndarray, list[tuple[float, np.ndarray, np.ndarray]]]:
    """The covariate-shift case: reference probabilities and labels, then (shift, probabilities, labels) chunks."""
    rng = np.random.default_rng(seed)
    model = LogisticRegression().fit(*population(rng, 3000, 0.0))
    x_ref, y_ref = population(rng, 2000, 0.0)
    chunks = []
    for shift in SHIFTS:
        x, y = population(rng, CHUNK, shift)
        chunks.append((shift, model.predict_proba(x), y))
    return model.predict_proba(x_ref), y_ref, chunks


def demo_sized(seed: int) -> tuple[np.ndarray, np.ndarray, list[tuple[float, np.ndarray, np.ndarray]]]:
    """The demo's case: a random forest, 140 evaluation rows, the other 129 rows of breast-cancer as one chunk."""
    x, y = load_breast_cancer(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(y))
    train, evaluation, served = order[:300], order[300:440], order[440:]
    model = RandomForestClassifier(n_estimators=60, max_depth=6, random_state=seed, n_jobs=1).fit(x[train], y[train])
    return model.predict_proba(x[evaluation]), y[evaluation], [(0.0, model.predict_proba(x[served]), y[served])]


def one_seed(seed: int, nannyml: str | None, case: Any = shifted) -> list[dict[str, float]]:
    p_ref, y_ref, cases = case(seed)
    started = time.perf_counter()
    calibration = calibrate(p_ref, y_ref, seed=seed)
    rows, chunks = [], []
    for shift, proba, y in cases:
        est = estimate(calibration, proba)
        rows.append({
            "shift": shift, "accuracy": accuracy_score(y, proba.argmax(1)), "roc_auc": roc_auc_score(y, proba[:, 1]),
            "mlgate_accuracy": est["accuracy"].value, "mlgate_roc_auc": est["roc_auc"].value,
            "inside_accuracy": est["accuracy"].low <= accuracy_score(y, proba.argmax(1)) <= est["accuracy"].high,
            "inside_roc_auc": est["roc_auc"].low <= roc_auc_score(y, proba[:, 1]) <= est["roc_auc"].high,
        })  # fmt: skip
        chunks.append(pd.DataFrame({"p": proba[:, 1], "pred": proba.argmax(1), "y": y}))
    mlgate_seconds = time.perf_counter() - started
    for row in rows:
        row["mlgate_seconds"] = mlgate_seconds
    if nannyml:
        with tempfile.TemporaryDirectory() as tmp:
            ref = pd.DataFrame({"p": p_ref[:, 1], "pred": p_ref.argmax(1), "y": y_ref})
            ref.to_parquet(Path(tmp) / "ref.parquet")
            pd.concat(chunks, ignore_index=True).to_parquet(Path(tmp) / "analysis.parquet")
            started = time.perf_counter()
            done = subprocess.run(
                [nannyml, "-c", _NANNYML, str(Path(tmp) / "ref.parquet"), str(Path(tmp) / "analysis.parquet"),
                 str(len(chunks[0]))], capture_output=True, text=True, check=True,
            )  # fmt: skip
            seconds = time.perf_counter() - started
            theirs = json.loads(done.stdout.strip().splitlines()[-1])
        for i, row in enumerate(rows):
            for metric in ("accuracy", "roc_auc"):
                row[f"nannyml_{metric}"] = theirs[f"{metric}_value"][i]
                low, high = (
                    theirs[f"{metric}_lower_confidence_boundary"][i],
                    theirs[f"{metric}_upper_confidence_boundary"][i],
                )
                row[f"nannyml_inside_{metric}"] = (low is None or low <= row[metric]) and (
                    high is None or row[metric] <= high
                )
            row["nannyml_seconds"] = seconds
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--nannyml-python", default=None, help="a Python whose environment has nannyml installed")
    args = parser.parse_args()
    frame = pd.DataFrame([row for seed in range(args.seeds) for row in one_seed(seed, args.nannyml_python)])
    small = pd.DataFrame(
        [row for seed in range(args.seeds) for row in one_seed(seed, args.nannyml_python, demo_sized)]
    ).assign(shift="demo-sized")
    lines = [
        "## CBPE: performance estimated without labels (issue 17)",
        "",
        f"`.venv/bin/python bench/bench_cbpe.py --seeds {args.seeds}"
        + (" --nannyml-python <venv with nannyml>/bin/python`" if args.nannyml_python else "`"),
        f"— {args.seeds} seeds; logistic model, reference set 2,000 rows, chunks of {CHUNK} rows whose feature means",
        "shift by the given sigmas (P(label | features) unchanged). Error = estimate - realized metric, mean absolute",
        "over seeds; inside band = realized metric within the 95 % band (NannyML's: its ±3 sampling errors).",
        "",
        *_table(frame),
        "",
        "The demo's case: a random forest (60 trees, depth 6) on scikit-learn's breast-cancer set, calibrated on an",
        "evaluation set of 140 rows, one served chunk of the other 129 rows (train 300). mlgate's map is used only",
        "where cross-fitting says it helps; its band carries bootstrap refits of the calibration set.",
        "",
        *_table(small),
    ]
    seconds = median(frame.groupby(frame.index // len(SHIFTS))["mlgate_seconds"].first().tolist())
    lines += [
        "",
        f"mlgate: calibrate + {len(SHIFTS)} chunk estimates with bands, median {seconds * 1000:.0f} ms a seed.",
    ]
    if "nannyml_accuracy" in frame.columns:
        theirs = median(frame.groupby(frame.index // len(SHIFTS))["nannyml_seconds"].first().tolist())
        lines.append(f"NannyML {_nannyml_version(args.nannyml_python)} (own venv, process start included): "
                     f"median {theirs * 1000:.0f} ms a seed.")  # fmt: skip
    else:
        lines.append("NannyML: not compared in this run (pass --nannyml-python).")
    lines.append("Measured on a shared 2-core machine under load from parallel work: timings are indicative only.")
    write_section("cbpe", "\n".join(lines))
    print("\n".join(lines))


def _table(frame: pd.DataFrame) -> list[str]:
    has_nml = "nannyml_accuracy" in frame.columns
    header = "| shift | realized accuracy | mlgate MAE | inside band | realized ROC AUC | mlgate MAE | inside band |"
    sep = "|---|---|---|---|---|---|---|"
    if has_nml:
        header += " NannyML MAE accuracy | inside its band | NannyML MAE ROC AUC | inside its band |"
        sep += "---|---|---|---|"
    lines = [header, sep]
    for shift, group in frame.groupby("shift"):
        cells = [
            shift if isinstance(shift, str) else f"{shift:.2f}", f"{group.accuracy.mean():.3f}",
            f"{(group.mlgate_accuracy - group.accuracy).abs().mean():.4f}", f"{group.inside_accuracy.mean():.0%}",
            f"{group.roc_auc.mean():.3f}", f"{(group.mlgate_roc_auc - group.roc_auc).abs().mean():.4f}",
            f"{group.inside_roc_auc.mean():.0%}",
        ]  # fmt: skip
        if has_nml:
            cells += [
                f"{(group.nannyml_accuracy - group.accuracy).abs().mean():.4f}",
                f"{group.nannyml_inside_accuracy.mean():.0%}",
                f"{(group.nannyml_roc_auc - group.roc_auc).abs().mean():.4f}",
                f"{group.nannyml_inside_roc_auc.mean():.0%}",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _nannyml_version(python: str) -> str:
    done = subprocess.run([python, "-c", "import nannyml; print(nannyml.__version__)"], capture_output=True, text=True)
    return done.stdout.strip() or "?"


if __name__ == "__main__":
    main()
