"""Training: the reproducible training record (``track``), its provenance, and ``reproduce``.

from mlgate import training

with training.track(experiment="churn", seed=42, entry_point="pipelines.train:fit") as run:
    ...
"""

from __future__ import annotations

from mlgate.training.tracking import *  # noqa: F403 - the names a notebook needs, listed in tracking.__all__
from mlgate.training.tracking import __all__  # noqa: F401
