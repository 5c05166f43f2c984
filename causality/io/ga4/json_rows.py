"""Rows of JSON-array exports and of the sample-file wrapper, as Arrow record batches.

A JSON array (what the BigQuery console downloads) is decoded one row at a time from a
buffer of about a mebibyte, so memory stays bounded whatever the file size; the
per-row decoding runs in the C JSON decoder. NDJSON rows too long for pyarrow's block
parser take the same path. The sample wrapper of
``shared/data/ga4-sample`` (an object whose ``sample_rows`` hold rows with Python-repr
nested fields) is small and read whole.
"""

from __future__ import annotations

import ast
import io
import json
import re
from collections.abc import Iterator, Sequence
from typing import IO, Any

import pyarrow as pa

from causality.errors import JourneyValidationError
from causality.io.ga4.schema import Chunk, ints_as_text, needed_schema

# Sample-file quirk: nested arrays are numpy-style reprs whose elements sit on separate lines.
_REPR_SEPARATOR = re.compile(r"\}\s*\n\s*\{")
_REPR_FIELDS = ("event_params",)


def json_batches(stream: IO[bytes], name: str, batch_rows: int) -> Iterator[Chunk]:
    """Record batches of a JSON array, a sample wrapper, or JSON rows one after another."""
    text = io.TextIOWrapper(stream, encoding="utf-8")
    try:
        rows = _wrapper_rows(text, name) if _is_wrapper(text) else _object_rows(text, name)
        yield from _batches(iter(rows), name, batch_rows)
    finally:
        text.detach()  # leave the caller's stream open


def _is_wrapper(text: IO[str]) -> bool:
    """Whether the document is one object (the sample wrapper) rather than rows of objects."""
    head = text.read(256).lstrip()
    text.seek(0)
    if not head.startswith("{"):
        return False
    try:
        first = json.loads(text.readline())
    except ValueError:
        first = None  # a pretty-printed object
    text.seek(0)
    return not isinstance(first, dict) or "sample_rows" in first


def ndjson_batches(stream: IO[bytes], name: str, batch_rows: int, skip: int) -> Iterator[Chunk]:
    """Record batches of newline-delimited JSON after its first ``skip`` rows.

    The slow path for files pyarrow's block parser cannot take (a row longer than a block).
    """
    text = io.TextIOWrapper(stream, encoding="utf-8")
    try:
        rows = _object_rows(text, name)
        for _ in range(skip):
            next(rows)
        yield from _batches(rows, name, batch_rows, first=skip + 1)
    finally:
        text.detach()


def _batches(
    rows: Iterator[dict[str, Any]], name: str, batch_rows: int, first: int = 1
) -> Iterator[Chunk]:
    schema: pa.Schema | None = None
    wanted = needed_schema(False).names
    batch: list[dict[str, Any]] = []
    for row in rows:
        if schema is None:
            schema = needed_schema(ints_as_text(row))
        batch.append({k: row.get(k) for k in wanted})
        if len(batch) == batch_rows:
            yield Chunk(_to_batch(batch, schema, name, first), first)
            first += len(batch)
            batch = []
    if batch:
        yield Chunk(_to_batch(batch, schema, name, first), first)


def _to_batch(rows: list[dict[str, Any]], schema: Any, name: str, first: int) -> pa.RecordBatch:
    try:
        return pa.RecordBatch.from_pylist(rows, schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        for i, row in enumerate(rows):  # error path only: find the row, then the field
            for field in schema:
                try:
                    pa.array([row.get(field.name)], type=field.type)
                except (pa.ArrowInvalid, pa.ArrowTypeError) as cell:
                    raise JourneyValidationError(
                        f"{name}, row {first + i}, field {field.name!r}: {cell}. Fix: correct "
                        "or drop that row."
                    ) from err
        raise JourneyValidationError(
            f"{name}, rows {first}-{first + len(rows) - 1}: {err}"
        ) from err


def _wrapper_rows(text: IO[str], name: str) -> Sequence[dict[str, Any]]:
    """The sample wrapper's rows (it is small: read whole), nested reprs parsed."""
    try:
        document = json.load(text)
    except ValueError as err:
        raise JourneyValidationError(f"{name}: not valid JSON ({err})") from err
    rows = document.get("sample_rows") if isinstance(document, dict) else None
    if not isinstance(rows, list):
        raise JourneyValidationError(
            f"{name}: a JSON object without 'sample_rows'. Fix: pass BigQuery's export (one row "
            "per line, or a JSON array of rows)."
        )
    out = []
    for i, row in enumerate(rows, start=1):
        row = dict(row)
        for key in _REPR_FIELDS:
            if isinstance(row.get(key), str):
                row[key] = _parse_repr(row[key], name, i, key)
        out.append(row)
    return out


def _parse_repr(text: str, name: str, row: int, field: str) -> list[Any]:
    # A newline can only appear between elements: inside a string repr writes it as "\n".
    try:
        value = ast.literal_eval(_REPR_SEPARATOR.sub("}, {", text))
    except (ValueError, SyntaxError) as err:
        raise JourneyValidationError(
            f"{name}, row {row}, field {field!r}: cannot parse {text[:60]!r}... ({err}). Fix: "
            "export the table again as JSON."
        ) from err
    if not isinstance(value, list):
        raise JourneyValidationError(f"{name}, row {row}, field {field!r}: expected a list")
    return value


def _object_rows(text: IO[str], name: str, chunk: int = 1 << 20) -> Iterator[dict[str, Any]]:
    """JSON objects one after another (NDJSON) or in an array, decoded one at a time.

    The buffer holds about ``chunk`` characters beyond the row being decoded.
    """
    decoder = json.JSONDecoder()
    buf, pos, row, eof = text.read(chunk).lstrip(), 0, 0, False
    if buf.startswith("["):
        pos = 1
    while True:
        if not eof and len(buf) - pos < chunk // 2:  # refill, dropping what was decoded
            more = text.read(chunk)
            buf, pos, eof = buf[pos:] + more, 0, not more
        while pos < len(buf) and buf[pos] in " \t\r\n,":
            pos += 1
        at_end = pos == len(buf)
        if (at_end and eof) or (not at_end and buf[pos] == "]"):
            return
        try:
            value, pos = decoder.raw_decode(buf, pos)
        except json.JSONDecodeError as err:
            if not eof:  # the row continues past the buffer: read on
                more = text.read(chunk)
                buf, pos, eof = buf[pos:] + more, 0, not more
                continue
            raise JourneyValidationError(f"{name}, row {row + 1}: invalid JSON ({err})") from err
        row += 1
        if not isinstance(value, dict):
            raise JourneyValidationError(f"{name}, row {row}: expected an object per row")
        yield value
