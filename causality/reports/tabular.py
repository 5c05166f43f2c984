"""CSV that spreadsheets open safely: RFC 4180 quoting and no formula injection."""

from __future__ import annotations

import csv
import io
import math
import numbers
import re
from pathlib import Path
from typing import Any

import pandas as pd

#: A cell starting with one of these is read as a formula (or a formula's start) by Excel,
#: LibreOffice and Google Sheets, so a channel named "=HYPERLINK(...)" could run on open.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def safe_cell(value: Any) -> str:
    """One cell as text: numbers exact, missing values empty, formula-like text defused.

    Text starting with ``= + - @``, a tab or a carriage return gets a leading single quote,
    which spreadsheets show as text; genuine numbers (``-1.5``, numeric types) are kept.

    Examples
    --------
    >>> safe_cell("=1+1"), safe_cell("-1.5"), safe_cell(-1.5), safe_cell("@SUM(A1)")
    ("'=1+1", '-1.5', '-1.5', "'@SUM(A1)")
    >>> safe_cell(float("nan")), safe_cell(None), safe_cell(True)
    ('', '', 'True')
    """
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        if isinstance(value, numbers.Integral):
            return str(int(value))
        number = float(value)
        return "" if math.isnan(number) else repr(number)
    text = str(value)
    if text.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_text(frame: pd.DataFrame) -> str:
    """``frame`` (without its index) as RFC 4180 CSV: CRLF line ends, quotes where needed."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([safe_cell(str(c)) for c in frame.columns])
    writer.writerows([safe_cell(v) for v in row] for row in frame.itertuples(index=False))
    return buffer.getvalue()


def write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write `csv_text` of ``frame`` to ``path`` (UTF-8) and return the path."""
    path = Path(path)
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(csv_text(frame))
    return path
