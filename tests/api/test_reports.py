"""Report jobs: formats, downloads, the durable queue (leases, retries, concurrency)."""

from __future__ import annotations

import csv
import io
import re

import pytest

from causality.api.jobs import queue
from causality.api.jobs.runner import Worker
from causality.api.pagination import encode_cursor
from tests.api.conftest import conversion, touch
from tests.api.test_attribution import WINDOW, _hand_data

INJECTION = '=HYPERLINK("http://evil")'
SCRIPT = "<script>alert(1)</script>"


def run_jobs(api, n: int = 10) -> int:
    worker = Worker(api.services, name="test")
    return sum(worker.run_once() for _ in range(n))


@pytest.fixture
def loaded(api):
    secret = api.key()
    events = [
        *_hand_data(),
        touch("x1", user="u5", channel_group=INJECTION, source="s"),
        touch("x2", user="u6", channel_group=SCRIPT, source="s"),
        conversion("x3", user="u6", value="1.00"),
    ]
    assert api.post_events(secret, events).status_code == 200
    return api, secret


def create(api, secret, **body):
    body.setdefault("params", dict(WINDOW, model="last_click"))
    response = api.client.post("/v1/reports", headers=api.auth(secret), json=body)
    assert response.status_code == 202, response.text
    return response.json()


def test_a_report_is_queued_then_rendered_by_a_worker(loaded):
    api, secret = loaded
    report = create(api, secret, format="csv")
    assert report["status"] == "queued" and report["download_url"] is None
    early = api.client.get(f"/v1/reports/{report['id']}/download", headers=api.auth(secret))
    assert early.status_code == 409 and early.json()["code"] == "report_not_ready"
    assert run_jobs(api) == 1
    done = api.client.get(f"/v1/reports/{report['id']}", headers=api.auth(secret)).json()
    assert done["status"] == "succeeded" and done["completed_at"]
    assert done["download_url"] == f"/v1/reports/{report['id']}/download"


def test_csv_is_rfc4180_and_defuses_formulas(loaded):
    api, secret = loaded
    report = create(api, secret, format="csv")
    run_jobs(api)
    response = api.client.get(f"/v1/reports/{report['id']}/download", headers=api.auth(secret))
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert not response.content.startswith(b"\xef\xbb\xbf")  # no BOM
    rows = list(csv.reader(io.StringIO(response.text)))
    cells = [cell for row in rows for cell in row]
    assert "'" + INJECTION in cells and INJECTION not in cells
    assert all(not c.startswith(("=", "+", "@")) for c in cells)


def test_json_report_has_the_attribution_schema(loaded):
    api, secret = loaded
    report = create(api, secret, format="json")
    run_jobs(api)
    body = api.client.get(f"/v1/reports/{report['id']}/download", headers=api.auth(secret)).json()
    direct = api.client.get(
        "/v1/attribution", headers=api.auth(secret), params=dict(WINDOW, model="last_click")
    ).json()
    assert body["object"] == "attribution_result"
    assert body["rows"] == direct["rows"] and body["totals"] == direct["totals"]


def test_html_is_self_contained_and_escaped(loaded):
    api, secret = loaded
    report = create(api, secret, format="html")
    run_jobs(api)
    page = api.client.get(f"/v1/reports/{report['id']}/download", headers=api.auth(secret)).text
    assert SCRIPT not in page and "&lt;script&gt;" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page)


def test_journeys_sample(loaded):
    api, secret = loaded
    report = create(api, secret, type="journeys_sample", format="json")
    run_jobs(api)
    body = api.client.get(f"/v1/reports/{report['id']}/download", headers=api.auth(secret)).json()
    assert body["object"] == "journeys_sample"
    paths = {r["path"]: r["conversions"] for r in body["rows"]}
    assert paths["Email > Paid Search"] == 1 and paths["Paid Search"] == 1


def test_bad_report_parameters_fail_at_once(loaded):
    api, secret = loaded
    response = api.client.post(
        "/v1/reports", headers=api.auth(secret), json={"params": {"model": "astrology"}}
    )
    assert response.status_code == 400 and response.json()["code"] == "unknown_model"
    bad_type = api.client.post("/v1/reports", headers=api.auth(secret), json={"type": "nope"})
    assert bad_type.status_code == 422


def test_a_report_on_an_empty_window_fails_with_a_reason(api):
    secret = api.key()
    report = create(api, secret, format="csv")
    run_jobs(api)
    failed = api.client.get(f"/v1/reports/{report['id']}", headers=api.auth(secret)).json()
    assert failed["status"] == "failed" and "no 'purchase' conversion" in failed["error"]


def test_reports_list_newest_first_and_stay_in_their_mode(loaded):
    api, secret = loaded
    first = create(api, secret, format="csv")
    second = create(api, secret, format="json")
    listed = api.client.get("/v1/reports", headers=api.auth(secret)).json()
    assert [r["id"] for r in listed["data"]] == [second["id"], first["id"]]
    live = api.key(mode="live")
    assert api.client.get("/v1/reports", headers=api.auth(live)).json()["data"] == []
    assert api.client.get(f"/v1/reports/{first['id']}", headers=api.auth(live)).status_code == 404


def _claim(api, owner):
    settings = api.services.settings
    return queue.claim(
        api.services.db,
        kinds=("report",),
        owner=owner,
        now_us=api.services.now_us(),
        lease_us=int(settings.job_lease_s * 1e6),
        max_attempts=settings.job_max_attempts,
        report_concurrency=settings.report_concurrency,
    )


def test_at_most_two_reports_run_at_once_per_mode(loaded):
    api, secret = loaded
    ids = [create(api, secret, format="csv")["id"] for _ in range(4)]
    claimed = [_claim(api, f"w{i}") for i in range(4)]
    assert [job.id if job else None for job in claimed] == [ids[0], ids[1], None, None]
    statuses = [
        api.client.get(f"/v1/reports/{i}", headers=api.auth(secret)).json()["status"] for i in ids
    ]
    assert statuses == ["running", "running", "queued", "queued"]


def test_a_lost_worker_is_retried_after_the_lease_then_failed(loaded):
    api, secret = loaded
    report = create(api, secret, format="csv")
    first = _claim(api, "crashed-1")
    assert first.attempts == 1
    api.clock.advance(seconds=59)
    assert _claim(api, "other") is None  # the lease still holds
    api.clock.advance(seconds=2)
    second = _claim(api, "crashed-2")
    assert second.id == report["id"] and second.attempts == 2
    api.clock.advance(seconds=61)
    assert run_jobs(api) == 1  # the third attempt runs and succeeds
    done = api.client.get(f"/v1/reports/{report['id']}", headers=api.auth(secret)).json()
    assert done["status"] == "succeeded"
    again = create(api, secret, format="csv")
    for n in range(3):
        assert _claim(api, f"lost-{n}").id == again["id"]
        api.clock.advance(seconds=61)
    assert _claim(api, "late") is None
    failed = api.client.get(f"/v1/reports/{again['id']}", headers=api.auth(secret)).json()
    assert failed["status"] == "failed" and "lost 3 times" in failed["error"]


def test_heartbeats_keep_a_long_job_leased(loaded):
    api, secret = loaded
    create(api, secret, format="csv")
    job = _claim(api, "busy")
    for _ in range(3):
        api.clock.advance(seconds=50)
        queue.heartbeat(api.services.db, [job.id], "busy", api.services.now_us(), 60_000_000)
        assert _claim(api, "thief") is None


def test_journeys_sample_as_csv_has_a_header(loaded):
    api, secret = loaded
    report = create(api, secret, type="journeys_sample", format="csv")
    run_jobs(api)
    text = api.client.get(f"/v1/reports/{report['id']}/download", headers=api.auth(secret)).text
    header = next(csv.reader(io.StringIO(text)))
    assert header[:2] == ["path", "conversions"]


def test_pages_walked_while_reports_are_added_repeat_and_skip_nothing(loaded):
    api, secret = loaded
    present = [create(api, secret, format="csv")["id"] for _ in range(7)]
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"starting_after": cursor} if cursor else {})
        page = api.client.get("/v1/reports", headers=api.auth(secret), params=params).json()
        seen += [r["id"] for r in page["data"]]
        create(api, secret, format="json")  # inserted between pages
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen))
    assert set(present) <= set(seen)
    backwards = api.client.get(
        "/v1/reports",
        headers=api.auth(secret),
        params={"limit": 2, "ending_before": encode_cursor(seen[2])},
    ).json()
    assert [r["id"] for r in backwards["data"]] == seen[:2]
