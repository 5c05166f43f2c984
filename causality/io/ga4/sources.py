"""Find GA4 export files, tell their format, and read them as Arrow record batches.

Formats, told apart by their first bytes (a ``.gz`` layer is removed first):

* ``parquet``: as BigQuery's extract jobs write it; read by row batches.
* ``ndjson``: newline-delimited JSON, BigQuery's JSON extract format; read by pyarrow in
  blocks. BigQuery writes INT64 values as JSON strings; the first row says which.
* ``json``: a JSON array of rows (what the BigQuery console downloads), or the wrapper of
  the sample files in ``shared/data/ga4-sample`` (see `causality.io.ga4.json_rows`).

Only the columns in `causality.io.ga4.schema.needed_schema` are kept.
"""

from __future__ import annotations

import glob
import gzip
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from causality.errors import JourneyValidationError
from causality.io.ga4.json_rows import json_batches, ndjson_batches
from causality.io.ga4.schema import Chunk, ints_as_text, needed_schema

FORMATS = ("auto", "ndjson", "json", "parquet")
_SUFFIXES = (".json", ".ndjson", ".jsonl", ".parquet", ".pq", ".gz")
_MAX_ROW_BYTES = 1 << 26  # 64 MiB: far above any GA4 row, and the largest NDJSON block
_BLOCK_BYTES = 1 << 21


@dataclass(frozen=True)
class Source:
    """One export file (or an open binary stream) to read."""

    name: str
    open: Callable[[], IO[bytes]]
    size: int | None
    owned: bool  # whether the reader closes the stream it opens


def resolve(sources: Any) -> list[Source]:
    """Paths, globs, folders, a list of them, or a seekable binary stream, as `Source`s."""
    if hasattr(sources, "read"):
        if not (hasattr(sources, "seekable") and sources.seekable()):
            raise JourneyValidationError(
                "the GA4 stream is not seekable. Fix: pass a file path, or copy the upload "
                "into a temporary file (tempfile.SpooledTemporaryFile) first."
            )
        name = str(getattr(sources, "name", "<stream>"))
        return [Source(name, lambda: sources, None, owned=False)]
    items = [sources] if isinstance(sources, str | os.PathLike) else list(sources)
    paths: list[Path] = []
    for item in items:
        paths.extend(_expand(item))
    return [Source(str(p), lambda p=p: open(p, "rb"), p.stat().st_size, True) for p in paths]


def _expand(item: str | os.PathLike[str]) -> list[Path]:
    path = Path(item)
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.name.lower().endswith(_SUFFIXES))
    elif path.is_file():
        found = [path]
    else:
        found = [Path(p) for p in sorted(glob.glob(str(item), recursive=True))]
        found = [p for p in found if p.is_file()]
    if not found:
        raise JourneyValidationError(
            f"no GA4 export files at {str(item)!r}. Fix: pass a file, a folder of "
            "events_YYYYMMDD files, or a glob such as 'export/events_*.json'."
        )
    return found


def read_chunks(source: Source, *, fmt: str, batch_rows: int) -> Iterator[tuple[Chunk, int]]:
    """Record batches of ``source`` and, after each, how many bytes of it have been read."""
    raw = source.open()
    try:
        raw.seek(0)
        stream: IO[bytes] = gzip.GzipFile(fileobj=raw) if _is_gzip(raw) else raw
        kind = _sniff(stream, source.name) if fmt == "auto" else fmt
        if kind == "parquet":
            batches = _parquet(stream, batch_rows)
        elif kind == "ndjson":
            batches = _ndjson(stream, source.name, batch_rows)
        else:
            batches = json_batches(stream, source.name, batch_rows)
        for chunk in batches:
            yield chunk, raw.tell()
    finally:
        if source.owned:
            raw.close()


def _is_gzip(raw: IO[bytes]) -> bool:
    magic = raw.read(2)
    raw.seek(0)
    return magic == b"\x1f\x8b"


def _sniff(stream: IO[bytes], name: str) -> str:
    head = stream.read(64).lstrip()
    stream.seek(0)
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"["):
        return "json"
    if head.startswith(b"{"):
        # One complete object on the first line: NDJSON, unless it is the sample wrapper.
        row = _first_line(stream)
        return "ndjson" if isinstance(row, dict) and "sample_rows" not in row else "json"
    raise JourneyValidationError(
        f"{name}: cannot tell the format (it starts with {head[:20]!r}). Fix: pass a GA4 "
        "BigQuery export as newline-delimited JSON, a JSON array or Parquet, or set format=."
    )


def _first_line(stream: IO[bytes]) -> Any:
    """The first line parsed as JSON, or None; reads at most `_MAX_ROW_BYTES`."""
    line = stream.readline(_MAX_ROW_BYTES)
    stream.seek(0)
    try:
        return json.loads(line)
    except ValueError:
        return None


def _parquet(stream: IO[bytes], batch_rows: int) -> Iterator[Chunk]:
    file = pq.ParquetFile(stream)
    wanted = set(needed_schema(False).names)
    columns = [n for n in file.schema_arrow.names if n in wanted]
    first = 1
    for batch in file.iter_batches(batch_size=batch_rows, columns=columns):
        yield Chunk(batch, first)
        first += batch.num_rows


def _ndjson(stream: IO[bytes], name: str, batch_rows: int) -> Iterator[Chunk]:
    first_row = _first_line(stream)
    if not isinstance(first_row, dict):
        raise JourneyValidationError(
            f"{name}, row 1: not a JSON object on one line (or longer than "
            f"{_MAX_ROW_BYTES >> 20} MiB). Fix: pass newline-delimited JSON, one row per "
            "line (format='json' reads a JSON array)."
        )
    schema = needed_schema(ints_as_text(first_row))
    # Small blocks keep pyarrow's parsing memory small (it grows with the block, not the
    # file); a row longer than a block falls back to row-by-row decoding.
    block = min(max(_BLOCK_BYTES, 8 * len(json.dumps(first_row))), _MAX_ROW_BYTES)
    read_options = pa_json.ReadOptions(block_size=block, use_threads=False)
    parse_options = pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    first = 1
    try:  # pyarrow parses the first block on opening, the others on each read
        reader = pa_json.open_json(stream, read_options=read_options, parse_options=parse_options)
        for batch in _rebatch(reader, schema, batch_rows):
            yield Chunk(batch, first)
            first += batch.num_rows
    except pa.ArrowInvalid as err:
        if "straddl" not in str(err):
            raise _located(err, name, first) from err
        # A row longer than a block: decode the rest of the file row by row instead.
        stream.seek(0)
        yield from ndjson_batches(stream, name, batch_rows, skip=first - 1)


def _rebatch(
    batches: Iterator[pa.RecordBatch], schema: pa.Schema, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    """The rows of ``batches`` regrouped into batches of exactly ``batch_rows`` (the last less)."""
    pending: list[pa.RecordBatch] = []
    size = 0
    for batch in batches:
        pending.append(batch)
        size += batch.num_rows
        while size >= batch_rows:
            table = pa.Table.from_batches(pending, schema=schema).combine_chunks()
            yield from table.slice(0, batch_rows).to_batches()
            rest = table.slice(batch_rows)
            pending, size = rest.to_batches(), rest.num_rows
    if size:
        yield from pa.Table.from_batches(pending, schema=schema).combine_chunks().to_batches()


def _located(err: pa.ArrowInvalid, name: str, first: int) -> JourneyValidationError:
    """Turn pyarrow's block-relative message into file, row and field."""
    text = str(err)
    row = re.search(r"in row (\d+)", text)
    where = f"row {first + int(row.group(1))}" if row else f"at or after row {first}"
    field = re.search(r"Column\(([^)]*)\)", text)
    column = f", field {field.group(1).strip('/').replace('/', '.')!r}" if field else ""
    return JourneyValidationError(
        f"{name}, {where}{column}: {text}. Fix: GA4 exports write every row with the same "
        "types; correct or drop that row."
    )
