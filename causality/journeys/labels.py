"""Integer codes for label columns without materialising millions of Python strings."""

from __future__ import annotations

import numpy as np
import pandas as pd


def factorize_labels(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes and labels of a column: ``labels[codes[i]]`` is row ``i``; -1 marks missing.

    Categorical columns reuse their codes (no per-row work at all); other columns
    are hash-factorised. Labels are returned as strings.
    """
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy().astype(np.int32, copy=False)
        labels = np.asarray([str(c) for c in series.cat.categories], dtype=object)
        return codes, labels
    if series.dtype == object and pd.api.types.infer_dtype(series, skipna=True) != "string":
        # Mixed types: 1 and "1" must be one label, so compare them as text.
        series = series.where(series.isna(), series.astype(str))
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    labels = np.asarray([str(u) for u in uniques], dtype=object)
    return codes.astype(np.int32, copy=False), labels


def codes_in(codes: np.ndarray, labels: np.ndarray, wanted: frozenset[str]) -> np.ndarray:
    """Boolean mask of rows whose label is in ``wanted`` (missing rows are not)."""
    hits = np.flatnonzero(np.isin(labels, list(wanted)))
    lookup = np.zeros(len(labels) + 1, dtype=bool)
    lookup[hits] = True
    return lookup[codes]  # code -1 reads the sentinel slot at the end, always False
