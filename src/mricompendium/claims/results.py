"""The per-case results table a verdict is computed from (``reports/results/<id>.csv``).

Long format, one row per (setting, method, training seed, budget, case): the key columns of
:data:`KEYS`, then one float column per metric. ``seed`` is ``-1`` and ``budget`` is ``0`` for
methods that are not trained (CS, a classical registration, zero-filled).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from mricompendium.io import atomic_write_text

__all__ = ["KEYS", "metric_columns", "read_results", "results_frame", "write_results"]

KEYS = ("setting", "method", "seed", "budget", "case", "unit", "group")
_STR_KEYS = ("setting", "method", "case", "unit", "group")


def metric_columns(df: pd.DataFrame) -> list[str]:
    """The metric columns: everything that is not a key column."""
    return [c for c in df.columns if c not in KEYS]


def results_frame(rows: Iterable[Mapping[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """Validate per-case rows and return them as the results DataFrame.

    Args:
        rows: dicts (or a DataFrame) with every column of :data:`KEYS` and at least one metric.

    Returns:
        A DataFrame with string keys, integer ``seed``/``budget`` and float metric columns.

    Raises:
        ValueError: a missing key column, no metric column, a non-finite metric value, or two rows
            with the same key (each named).
    """
    df = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    if df.empty:
        raise ValueError("results are empty")
    missing = [k for k in KEYS if k not in df.columns]
    if missing:
        raise ValueError(f"results lack key columns {missing} (have {list(df.columns)})")
    metrics = metric_columns(df)
    if not metrics:
        raise ValueError("results have no metric column")
    for k in _STR_KEYS:
        df[k] = df[k].astype(str)
    for k in ("seed", "budget"):
        if not np.all(np.equal(np.mod(pd.to_numeric(df[k]), 1), 0)):
            raise ValueError(f"results column {k!r} must hold integers")
        df[k] = pd.to_numeric(df[k]).astype(np.int64)
    for m in metrics:
        values = pd.to_numeric(df[m], errors="coerce").astype(np.float64)
        bad = ~np.isfinite(values.to_numpy())
        if bad.any():
            row = df.loc[bad].iloc[0]
            where = ", ".join(f"{k}={row[k]}" for k in KEYS)
            raise ValueError(f"metric {m!r} is not finite in {int(bad.sum())} rows, e.g. {where}")
        df[m] = values
    dup = df.duplicated(subset=list(KEYS), keep=False)
    if dup.any():
        row = df.loc[dup].iloc[0]
        where = ", ".join(f"{k}={row[k]}" for k in KEYS)
        raise ValueError(f"{int(dup.sum())} rows share a key, e.g. {where}")
    return df[list(KEYS) + metrics].reset_index(drop=True)


def write_results(path: str | os.PathLike[str], df: pd.DataFrame) -> None:
    """Validate and atomically write the results CSV (floats with 9 significant digits)."""
    df = results_frame(df)
    atomic_write_text(path, df.to_csv(index=False, float_format="%.9g"))


def read_results(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read and validate a results CSV (errors name the file)."""
    try:
        df = pd.read_csv(path, dtype={k: str for k in _STR_KEYS}, keep_default_na=False)
        return results_frame(df)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: results file not found") from None
    except (ValueError, pd.errors.ParserError) as exc:
        raise ValueError(f"{path}: {exc}") from exc
