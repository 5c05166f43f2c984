"""Open an event source in embedded DuckDB: files and globs, Arrow data, or a DuckDB relation.

The connection is locked down for unattended use: it never installs or loads an
extension (the Parquet and CSV readers are built in), it caps its memory and spills
to a temporary directory beyond that, and it reads times in UTC.
"""

# Every name and text in the SQL below goes through quote() or literal().
# ruff: noqa: S608

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from causality.errors import ConfigurationError, JourneyValidationError
from causality.journeys.duckdb_sql import EVENTS, literal, quote

#: Environment variables that override the engine defaults.
MEMORY_LIMIT_ENV = "CAUSALITY_DUCKDB_MEMORY_LIMIT"
TEMP_DIRECTORY_ENV = "CAUSALITY_DUCKDB_TEMP_DIRECTORY"
#: Share of physical memory DuckDB may use when no limit is given.
DEFAULT_MEMORY_SHARE = 0.5

_PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
_CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".csv.zst", ".tsv.gz")
_INSTALL_HINT = "Install it with: pip install 'causality[duckdb]'"


@dataclass(frozen=True)
class Opened:
    """An open source: the relation to query, and the Arrow schema of its file or table."""

    relation: Any
    arrow_schema: Any | None  # pyarrow.Schema of Arrow and Parquet sources, else None


def is_source(obj: object) -> bool:
    """Whether `Journeys.from_events` should hand ``obj`` to DuckDB (paths, Arrow, relations)."""
    if isinstance(obj, str | os.PathLike):
        return True
    module = type(obj).__module__ or ""
    return module.split(".")[0] in {"pyarrow", "duckdb", "_duckdb"}


def import_duckdb() -> Any:
    """Import duckdb, or raise an ImportError naming the extra to install."""
    try:
        import duckdb
    except ImportError as error:
        raise ImportError(
            f"reading event files, globs and DuckDB relations needs duckdb. {_INSTALL_HINT}, "
            "or read the file with ca.io.read_table(path) and pass the DataFrame."
        ) from error
    return duckdb


def default_memory_limit() -> str:
    """``$CAUSALITY_DUCKDB_MEMORY_LIMIT``, else half the machine's physical memory."""
    if os.environ.get(MEMORY_LIMIT_ENV):
        return os.environ[MEMORY_LIMIT_ENV]
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return "4GB"
    return f"{max(256, int(total * DEFAULT_MEMORY_SHARE) // 2**20)}MB"


@contextmanager
def open_source(
    source: Any,
    *,
    memory_limit: str | None = None,
    temp_directory: str | os.PathLike | None = None,
    threads: int | None = None,
) -> Iterator[Opened]:
    """Yield the source as a DuckDB relation; close what was opened here on exit.

    A DuckDB relation runs on its own connection, with that connection's settings;
    every other source gets a fresh in-memory connection configured here.
    """
    duckdb = import_duckdb()
    if isinstance(source, duckdb.DuckDBPyRelation):
        yield Opened(relation=source, arrow_schema=None)
        return
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)):
        raise ConfigurationError(f"threads must be a positive integer or None; got {threads!r}")
    own_temp = temp_directory is None and not os.environ.get(TEMP_DIRECTORY_ENV)
    spill = (
        tempfile.mkdtemp(prefix="causality-duckdb-")
        if own_temp
        else str(temp_directory or os.environ[TEMP_DIRECTORY_ENV])
    )
    config: dict[str, Any] = {
        # Never fetch code from the network: Parquet and CSV readers are built in.
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "memory_limit": memory_limit or default_memory_limit(),
        "temp_directory": spill,
    }
    if threads is not None:
        config["threads"] = max(1, threads)
    connection = duckdb.connect(":memory:", config=config)
    try:
        connection.execute("SET TimeZone = 'UTC'")
        yield _relation(connection, source)
    finally:
        connection.close()
        if own_temp:
            shutil.rmtree(spill, ignore_errors=True)


def _relation(connection: Any, source: Any) -> Opened:
    if isinstance(source, str | os.PathLike):
        return _file_relation(connection, source)
    import pyarrow as pa

    if isinstance(source, pa.RecordBatch):
        source = pa.Table.from_batches([source])
    if isinstance(source, pa.Table) or hasattr(source, "to_batches"):
        # Tables, record batches and pyarrow datasets; DuckDB scans them in place.
        return Opened(relation=connection.from_arrow(source), arrow_schema=source.schema)
    raise JourneyValidationError(
        f"cannot read events from a {type(source).__name__}. Fix: pass a pandas DataFrame, a "
        "Parquet/CSV path or glob, a pyarrow Table or dataset, or a DuckDB relation."
    )


def _file_relation(connection: Any, source: str | os.PathLike) -> Opened:
    text = os.fspath(source)
    pattern = text
    if Path(text).is_dir():
        pattern = str(Path(text) / "**" / "*.parquet")
    files = sorted(glob.glob(pattern, recursive=True))
    if not files:
        raise JourneyValidationError(
            f"no such file: {text!r} matches no file. Fix: check the path or glob pattern."
        )
    name = pattern.lower()
    if name.endswith(_PARQUET_SUFFIXES):
        return _parquet_relation(connection, files)
    if name.endswith(_CSV_SUFFIXES):
        delimiter = ", delim = '\\t'" if ".tsv" in name else ""
        listing = "[" + ", ".join(literal(f) for f in files) + "]"
        relation = connection.sql(f"SELECT * FROM read_csv({listing}{delimiter})")
        return Opened(relation=relation, arrow_schema=None)
    raise JourneyValidationError(
        f"cannot tell the format of {Path(text).name!r}. Fix: use .parquet or .csv (.csv.gz, "
        ".tsv) files, or read the data yourself and pass a DataFrame or Arrow table."
    )


def _parquet_relation(connection: Any, files: list[str]) -> Opened:
    import pyarrow.parquet as pq

    schema = pq.read_schema(files[0])
    # pandas writes its index as a column; pandas' reader restores it as the index, so do we.
    metadata = schema.pandas_metadata or {}
    hidden = {c for c in metadata.get("index_columns", []) if isinstance(c, str)}
    listing = "[" + ", ".join(literal(f) for f in files) + "]"
    columns = ", ".join(quote(c) for c in schema.names if c not in hidden) or "*"
    relation = connection.sql(f"SELECT {columns} FROM read_parquet({listing})")
    return Opened(relation=relation, arrow_schema=schema)


def query(opened: Opened, sql: str) -> Any:
    """Run ``sql`` against the source, named `EVENTS` inside it; returns a lazy relation."""
    return opened.relation.query(EVENTS, sql)


def arrow_batches(relation: Any, batch_size: int) -> Any:
    """Stream a relation's result as Arrow record batches (duckdb 1.x and 2.x)."""
    for method in ("to_arrow_reader", "fetch_arrow_reader", "record_batch"):
        if hasattr(type(relation), method):
            return getattr(relation, method)(batch_size)
    raise ImportError(f"this duckdb cannot stream Arrow batches; {_INSTALL_HINT}")
