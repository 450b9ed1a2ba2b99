"""Full-content digests: sha256 of every value of a data frame, and of a file's bytes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


def dataset_sha256(df: pd.DataFrame) -> str:
    """sha256 of a data frame's full content: column names, dtypes, and every value of every row, in order.

    Unlike MLflow's own dataset digest (first 10,000 rows), a change in any row changes it. The
    index is not part of the content. Numeric, boolean and datetime columns are hashed as their
    raw bytes; other columns as length-prefixed text with a separate null mask.
    """
    import pandas as pd

    digest = hashlib.sha256()
    header = {"columns": [str(c) for c in df.columns], "dtypes": [str(t) for t in df.dtypes], "rows": len(df)}
    digest.update(json.dumps(header, sort_keys=True).encode())
    for i in range(df.shape[1]):
        column = df.iloc[:, i]
        dtype = column.dtype
        if isinstance(dtype, np.dtype) and dtype.kind in "biufcmM":
            digest.update(np.ascontiguousarray(column.to_numpy()).tobytes())
            continue
        missing = np.asarray(column.isna().to_numpy(), dtype=bool)
        if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
            texts = column.fillna("").tolist()  # pandas str columns hold str values: no conversion needed
        else:
            values = column.to_numpy(dtype=object)
            texts = ["" if null else str(value) for value, null in zip(values, missing, strict=True)]
        digest.update(np.packbits(missing).tobytes())
        digest.update(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)).tobytes())
        digest.update("".join(texts).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
