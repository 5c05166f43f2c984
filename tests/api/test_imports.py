"""``POST /v1/imports``: GA4 sample files, NDJSON events, idempotent re-uploads, crash resume."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from causality.api.jobs.runner import Worker
from causality.api.storage.tables import events
from tests.api.conftest import NOW, conversion, touch


def run_jobs(api, n: int = 200) -> None:
    worker = Worker(api.services, name="test")
    for _ in range(n):
        if not worker.run_once():
            return


def upload(api, secret, content: bytes, fmt: str, **headers):
    response = api.client.post(
        "/v1/imports",
        params={"format": fmt},
        content=content,
        headers={**api.auth(secret), "Content-Type": "application/x-ndjson", **headers},
    )
    assert response.status_code == 202, response.text
    return response.json()


def status(api, secret, import_id):
    return api.client.get(f"/v1/imports/{import_id}", headers=api.auth(secret)).json()


def stored(api) -> int:
    with api.services.db.read() as conn:
        return conn.scalar(select(func.count()).select_from(events))


@pytest.mark.parametrize(
    "n_files", [pytest.param(12, id="12_files"), pytest.param(92, id="all", marks=pytest.mark.slow)]
)
def test_the_ga4_sample_rows_import_with_zero_errors(api, shared_data, n_files):
    secret = api.key()
    files = sorted((shared_data / "ga4-sample").glob("events_*.json"))
    assert len(files) == 92
    files = files[:: 92 // n_files][:n_files] if n_files < 92 else files
    ids = [upload(api, secret, f.read_bytes(), "ga4_bigquery_json")["id"] for f in files]
    run_jobs(api)
    results = [status(api, secret, i) for i in ids]
    assert {r["status"] for r in results} == {"succeeded"}
    assert sum(r["rows_read"] for r in results) == 5 * n_files  # 460 rows in all
    assert sum(r["errors"] for r in results) == 0
    imported = sum(r["rows_imported"] for r in results)
    assert imported == stored(api) > 0
    with api.services.db.read() as conn:
        sessions = conn.scalar(select(func.count()).where(events.c.session_id.is_not(None)))
        touches = conn.execute(
            select(events.c.source, events.c.channel_group).where(events.c.event_type == "touch")
        ).all()
    assert sessions == imported  # every GA4 row carries ga_session_id
    assert touches and all(group for _source, group in touches)
    again = [upload(api, secret, f.read_bytes(), "ga4_bigquery_json")["id"] for f in files[:10]]
    run_jobs(api)
    assert sum(status(api, secret, i)["rows_imported"] for i in again) == 0
    assert stored(api) == imported


def _ndjson(rows: list[dict]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def test_ndjson_events_import_history_and_report_bad_lines(api):
    secret = api.key()
    old = NOW - timedelta(days=400)
    rows = [
        touch("h1", at=old),
        conversion("h2", at=old + timedelta(hours=1)),
        {"event_type": "touch"},
        touch("h3", at=NOW + timedelta(hours=1)),
    ]
    body = _ndjson(rows) + b"{not json}\n\n"
    created = upload(api, secret, body, "events_ndjson")
    assert created["status"] == "queued" and created["object"] == "import"
    run_jobs(api)
    result = status(api, secret, created["id"])
    assert result["status"] == "succeeded"
    assert (result["rows_read"], result["rows_imported"], result["rows_skipped"]) == (6, 2, 1)
    codes = {(e["pointer"].split("/")[1], e["code"]) for e in result["errors_sample"]}
    assert ("3", "missing_field") in codes and ("4", "timestamp_in_future") in codes
    assert ("5", "invalid_json") in codes
    assert stored(api) == 2


def test_gzip_and_multipart_uploads(api):
    secret = api.key()
    body = _ndjson([touch("g1"), touch("g2")])
    zipped = upload(
        api, secret, gzip.compress(body), "events_ndjson", **{"Content-Encoding": "gzip"}
    )
    multipart = api.client.post(
        "/v1/imports",
        params={"format": "events_ndjson"},
        headers=api.auth(secret),
        files={"file": ("events.ndjson", _ndjson([touch("m1")]), "application/x-ndjson")},
    )
    assert multipart.status_code == 202, multipart.text
    run_jobs(api)
    assert status(api, secret, zipped["id"])["rows_imported"] == 2
    assert status(api, secret, multipart.json()["id"])["rows_imported"] == 1


def test_uploads_over_the_limit_are_413(make_api):
    api = make_api(rate_limits=False, max_import_bytes=1000)
    secret = api.key()
    response = api.client.post(
        "/v1/imports",
        params={"format": "events_ndjson"},
        content=b"x" * 1001,
        headers={**api.auth(secret), "Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 413 and response.json()["code"] == "payload_too_large"
    assert not list((api.services.settings.data_dir / "imports").glob("*"))


def test_bad_format_is_400(api):
    secret = api.key()
    response = api.client.post(
        "/v1/imports", params={"format": "csv"}, content=b"x", headers=api.auth(secret)
    )
    assert response.status_code == 400 and response.json()["code"] == "invalid_parameter"


def test_a_crash_mid_import_resumes_without_duplicates(make_api, monkeypatch):
    import causality.api.imports as imports

    api = make_api(rate_limits=False, import_chunk_rows=10)
    secret = api.key()
    rows = [touch(f"e{i}", user=f"u{i % 5}") for i in range(35)]
    created = upload(api, secret, _ndjson(rows), "events_ndjson")
    original = imports.store_batch
    calls = []

    def crash_on_third_chunk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise MemoryError("worker killed")
        return original(*args, **kwargs)

    monkeypatch.setattr(imports, "store_batch", crash_on_third_chunk)
    run_jobs(api, n=1)
    assert stored(api) == 20
    monkeypatch.setattr(imports, "store_batch", original)
    interrupted = status(api, secret, created["id"])
    assert interrupted["status"] == "queued" and "worker killed" in interrupted["error"]
    run_jobs(api)
    result = status(api, secret, created["id"])
    assert result["status"] == "succeeded"
    assert (result["rows_imported"], result["rows_duplicate"]) == (15, 20)
    assert stored(api) == 35


def test_an_import_invalidates_cached_attribution(api):
    secret = api.key()
    api.post_events(secret, [touch("t1"), conversion("c1", at=NOW + timedelta(minutes=1))])
    params = {"model": "last_click", "start": "2026-11-01", "end": "2026-12-01"}
    before = api.client.get("/v1/attribution", headers=api.auth(secret), params=params).json()
    upload(
        api,
        secret,
        _ndjson([conversion("c2", user="u1", at=NOW - timedelta(days=20))]),
        "events_ndjson",
    )
    run_jobs(api)
    after = api.client.get("/v1/attribution", headers=api.auth(secret), params=params).json()
    assert after["totals"]["conversions"] == before["totals"]["conversions"] + 1


@pytest.mark.parametrize("mode", ["test", "live"])
def test_imports_stay_in_their_mode(api, mode):
    secret = api.key(mode=mode)
    other = api.key(mode="live" if mode == "test" else "test")
    created = upload(api, secret, _ndjson([touch("z1")]), "events_ndjson")
    run_jobs(api)
    assert (
        api.client.get(f"/v1/imports/{created['id']}", headers=api.auth(other)).status_code == 404
    )
    assert api.client.get("/v1/events/z1", headers=api.auth(other)).status_code == 404
    assert api.client.get("/v1/events/z1", headers=api.auth(secret)).status_code == 200
