"""Imports: GA4 BigQuery exports and NDJSON event files, streamed into the events table.

The upload is streamed to a file under the data directory (gunzipped, at most
``max_import_bytes``), then a job worker reads it in chunks of
``import_chunk_rows`` rows, in constant memory, committing each chunk. Every row
has a deterministic event id (GA4: the reader's sha256 of the row's identifying
fields; NDJSON: the file's ``event_id``), and rows whose id is stored are skipped,
so a re-upload, or a re-run after a crash, stores nothing twice.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from causality.api.event_store import record_change, store_batch
from causality.api.ingest import prepare_batch
from causality.api.jobs import queue
from causality.api.jobs.queue import Job, JobOutput
from causality.api.problems import Problem
from causality.api.storage.inserts import insert_new_rows
from causality.api.storage.tables import click_ids
from causality.api.storage.upsert import insert_ignore, link_identities
from causality.api.timeutil import format_micros, to_micros

FORMATS = ("ga4_bigquery_json", "ga4_bigquery_ndjson", "events_ndjson")
MAX_ERRORS_SAMPLE = 100
_GA4_FORMAT = {"ga4_bigquery_json": "json", "ga4_bigquery_ndjson": "ndjson"}
_CLICK_KINDS = ("gclid", "fbclid", "msclkid")


async def save_upload(
    chunks: AsyncIterator[bytes], target: Path, *, limit: int, gzipped: bool
) -> tuple[int, str]:
    """Stream an upload to ``target``; returns (bytes written, sha256 of them).

    Raises `Problem` 413 past ``limit`` (after decompression) and 400 for bad gzip.
    """
    import hashlib

    digest = hashlib.sha256()
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzipped else None
    size = 0
    target.parent.mkdir(parents=True, exist_ok=True)
    too_large = Problem(
        "payload_too_large", f"the upload is over {limit:,} bytes (after decompression)"
    )
    with target.open("wb") as out:
        async for chunk in chunks:
            if inflater is not None:
                try:
                    chunk = inflater.decompress(chunk, limit + 1 - size)
                except zlib.error as exc:
                    raise Problem("invalid_json", f"the upload is not valid gzip: {exc}") from None
                if inflater.unconsumed_tail:
                    raise too_large
            size += len(chunk)
            if size > limit:
                raise too_large
            digest.update(chunk)
            out.write(chunk)
    return size, digest.hexdigest()


def import_json(job: Job) -> dict[str, Any]:
    """The API form of an import job."""
    progress = {
        "rows_read": 0,
        "rows_imported": 0,
        "rows_duplicate": 0,
        "rows_skipped": 0,
        "errors": 0,
        "errors_sample": [],
    }
    progress.update(job.progress)
    return {
        "object": "import",
        "id": job.id,
        "format": job.payload["format"],
        "status": job.status,
        **job.timestamps(),
        "error": job.error,
        "bytes": job.payload.get("bytes"),
        **progress,
    }


@dataclasses.dataclass
class _Progress:
    rows_read: int = 0
    rows_imported: int = 0
    rows_duplicate: int = 0
    rows_skipped: int = 0
    errors: int = 0
    errors_sample: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def error(self, pointer: str, code: str, detail: str) -> None:
        self.errors += 1
        if len(self.errors_sample) < MAX_ERRORS_SAMPLE:
            self.errors_sample.append({"pointer": pointer, "code": code, "detail": detail})


def run_import_job(services: Any, job: Job, owner: str) -> JobOutput:
    """Job handler: read the uploaded file chunk by chunk into the events table."""
    path = Path(job.payload["path"])
    if not path.exists():
        raise ValueError(f"the uploaded file of {job.id} is gone; upload it again")
    progress = _Progress()
    fmt = job.payload["format"]
    chunks = (
        _ndjson_chunks(path, services, job, progress)
        if fmt == "events_ndjson"
        else (_ga4_chunks(path, fmt, services, job, progress))
    )
    for _ in chunks:  # each chunk is committed inside the generator
        queue.set_progress(services.db, job.id, owner, dataclasses.asdict(progress))
    path.unlink(missing_ok=True)
    return JobOutput(None, None, dataclasses.asdict(progress))


def _ga4_chunks(
    path: Path, fmt: str, services: Any, job: Job, progress: _Progress
) -> Iterator[None]:
    from causality.io import iter_ga4

    batches = iter_ga4(
        str(path),
        format=_GA4_FORMAT[fmt],
        batch_rows=services.settings.import_chunk_rows,
        progress=False,
    )
    received = services.now_us()
    floor = to_micros(services.settings.import_floor)
    currency = services.settings.currency
    yielded = 0
    for frame in batches:
        rows = _ga4_rows(frame, job.id, received, batches.rule_set)
        kept = []
        for row in rows:
            if row["ts"] < floor:
                progress.error(f"/{row['event_id']}", "timestamp_too_old", "before 2000-01-01")
            elif row["currency"] not in (None, currency):
                progress.error(
                    f"/{row['event_id']}",
                    "currency_mismatch",
                    f"{row['currency']} differs from the workspace currency {currency}",
                )
            else:
                kept.append(row)
        _store_rows(services, job.mode, kept, received, progress)
        progress.rows_read = batches.stats.rows_read
        yielded += len(rows)
        progress.rows_skipped = max(0, progress.rows_read - yielded)
        yield


def _ga4_rows(frame: Any, import_id: str, received: int, rule_set: str) -> list[dict[str, Any]]:
    """Rows of the events table from one frame of `iter_ga4` (vectorised column prep)."""
    ts = frame["timestamp"].dt.tz_convert("UTC").astype("int64").to_numpy() // 1000
    text = {
        c: frame[c].astype(object).where(frame[c].notna(), None).tolist()
        for c in (
            "user_id",
            "anonymous_id",
            "event_type",
            "event_name",
            "source",
            "medium",
            "campaign",
            "channel",
            "click_id",
            "click_id_value",
            "session_id",
            "transaction_id",
            "currency",
            "event_id",
            "first_touch_source",
            "first_touch_medium",
            "first_touch_campaign",
        )
    }
    values = frame["value"].astype(float).to_numpy()
    rows = []
    for i in range(len(frame)):
        kind = text["event_type"][i]
        order = text["transaction_id"][i] if kind == "conversion" else None
        first = {k: text[f"first_touch_{k}"][i] for k in ("source", "medium", "campaign")}
        row = {
            "event_id": text["event_id"][i],
            "event_type": kind,
            "name": text["event_name"][i] if kind != "touch" else None,
            "user_id": text["user_id"][i],
            "anonymous_id": text["anonymous_id"][i],
            "ts": int(ts[i]),
            "original_timestamp": format_micros(int(ts[i])),
            "sent_at": None,
            "received_at": received,
            "source": text["source"][i],
            "medium": text["medium"][i],
            "campaign": text["campaign"][i],
            "term": None,
            "content": None,
            "campaign_id": None,
            "referrer": None,
            "gclid": None,
            "fbclid": None,
            "msclkid": None,
            "channel_group": text["channel"][i] if kind == "touch" else None,
            "rule_set": rule_set if kind == "touch" else None,
            "value": float(values[i]) if kind == "conversion" and np.isfinite(values[i]) else None,
            "currency": text["currency"][i] if kind == "conversion" else None,
            "order_id": order if order not in (None, "", "(not set)") else None,
            "offline": False,
            "source_system": "ga4",
            "match_status": None,
            "matched_user_id": None,
            "matched_anonymous_id": None,
            "session_id": text["session_id"][i],
            "properties": None,
            "context": None,
            "first_touch": json.dumps(first) if any(first.values()) else None,
            "import_id": import_id,
        }
        if text["click_id"][i] in _CLICK_KINDS:
            row[text["click_id"][i]] = text["click_id_value"][i]
        rows.append(row)
    return rows


def _store_rows(
    services: Any, mode: str, rows: list[dict[str, Any]], received: int, progress: _Progress
) -> None:
    if not rows:
        return
    for row in rows:
        row["mode"] = mode
    with services.db.write() as conn:
        added = len(insert_new_rows(conn, rows))
        link_identities(
            conn,
            [
                {
                    "mode": mode,
                    "anonymous_id": r["anonymous_id"],
                    "user_id": r["user_id"],
                    "ts": r["ts"],
                }
                for r in rows
                if r["user_id"] and r["anonymous_id"]
            ],
        )
        insert_ignore(
            conn,
            click_ids,
            [
                {
                    "mode": mode,
                    "kind": k,
                    "click_id": r[k],
                    "user_id": r["user_id"],
                    "anonymous_id": r["anonymous_id"],
                    "ts": r["ts"],
                }
                for r in rows
                if r["event_type"] == "touch"
                for k in _CLICK_KINDS
                if r[k]
            ],
        )
        if added:
            record_change(conn, mode, received, rows=rows)
    progress.rows_imported += added
    progress.rows_duplicate += len(rows) - added


def _ndjson_chunks(path: Path, services: Any, job: Job, progress: _Progress) -> Iterator[None]:
    """Our event format, one JSON object per line, checked like ``POST /v1/events``."""
    settings = services.settings
    received = settings.now()
    # Imports take history: only the 2000-01-01 floor and the future limit apply.
    ages = received - settings.import_floor
    relaxed = dataclasses.replace(
        settings, max_age=ages, max_offline_age=ages, max_batch_events=settings.import_chunk_rows
    )
    with path.open("rb") as handle:
        numbered = enumerate(handle, start=1)
        while True:
            lines = list(itertools.islice(numbered, settings.import_chunk_rows))
            if not lines:
                break
            items, numbers = [], []
            for number, line in lines:
                progress.rows_read += 1
                if not line.strip():
                    progress.rows_skipped += 1
                    continue
                try:
                    items.append(json.loads(line))
                    numbers.append(number)
                except ValueError as exc:
                    progress.error(f"/{number}", "invalid_json", str(exc))
            if items:
                batch = prepare_batch({"events": items}, relaxed, received)
                with services.db.write() as conn:
                    store_batch(conn, job.mode, batch, atomic=False, validate_only=False)
                for item in batch.items:
                    line_no = numbers[item.index]
                    if item.status == "accepted":
                        progress.rows_imported += 1
                    elif item.status == "duplicate":
                        progress.rows_duplicate += 1
                    for error in item.errors:
                        pointer = error["pointer"].replace(
                            f"/events/{item.index}", f"/{line_no}", 1
                        )
                        progress.error(pointer, error["code"], error["detail"])
            yield
