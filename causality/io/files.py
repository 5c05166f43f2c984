"""Read event logs and path tables from CSV or Parquet files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from causality.errors import JourneyValidationError

_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.zip", ".csv.xz", ".tsv", ".txt")
_PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")


def read_table(path: str | Path, *, sep: str | None = None) -> pd.DataFrame:
    """Read a CSV (optionally compressed) or Parquet file into a DataFrame.

    Parameters
    ----------
    path : str or Path
        ``.csv``, ``.csv.gz`` (and other compressions), ``.tsv`` or ``.parquet``.
    sep : str, optional
        CSV field separator; sniffed from the first line when omitted (so
        ChannelAttribution's ``;``-separated ``Data.csv`` reads as is).

    Returns
    -------
    DataFrame
        Text columns as strings; timestamps are parsed later by `Journeys.from_events`.
    """
    path = Path(path)
    if not path.exists():
        raise JourneyValidationError(f"no such file: {str(path)!r}. Fix: check the path.")
    name = path.name.lower()
    if name.endswith(_PARQUET_SUFFIXES):
        return pd.read_parquet(path)
    if name.endswith(_CSV_SUFFIXES):
        if sep is None:
            sep = "\t" if ".tsv" in name else _sniff_separator(path)
        return pd.read_csv(path, sep=sep, low_memory=False)
    raise JourneyValidationError(
        f"cannot tell the format of {path.name!r}. Fix: use a .csv, .csv.gz, .tsv or .parquet file."
    )


def _sniff_separator(path: Path) -> str:
    with pd.io.common.get_handle(path, "r", compression="infer") as handle:
        header = handle.handle.readline()
    counts = {sep: header.count(sep) for sep in (",", ";", "\t", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] > 0 else ","
