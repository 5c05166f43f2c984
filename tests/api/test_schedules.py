"""Report schedules: one report per period, at the local time, across DST changes."""

from __future__ import annotations

from datetime import UTC, datetime

from causality.api.schedules import run_due_schedules
from tests.api.conftest import FakeClock


def test_daily_schedule_runs_once_per_day_across_the_spring_dst_change(make_api):
    clock = FakeClock(datetime(2026, 3, 27, 12, 0, tzinfo=UTC))
    api = make_api(rate_limits=False, clock=clock)
    secret = api.key()
    created = api.client.post(
        "/v1/report-schedules",
        headers=api.auth(secret),
        json={
            "report": {"format": "csv", "params": {"model": "last_click"}},
            "every": "daily",
            "at": "06:00",
            "timezone": "Europe/Berlin",
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["next_run_at"] == "2026-03-28T05:00:00.000000Z"  # 06:00 CET
    runs = []
    for _hour in range(24 * 4):  # poll hourly for four days, twice per poll
        runs.append(run_due_schedules(api.services) + run_due_schedules(api.services))
        clock.advance(hours=1)
    assert sum(runs) == 4
    reports = api.client.get("/v1/reports", headers=api.auth(secret)).json()["data"]
    assert len(reports) == 4 and {r["schedule_id"] for r in reports} == {created.json()["id"]}
    created_at = sorted(r["created_at"] for r in reports)
    # 06:00 Berlin is 05:00Z before the change (29 March) and 04:00Z after it.
    assert [t[:13] for t in created_at] == [
        "2026-03-28T05",
        "2026-03-29T04",
        "2026-03-30T04",
        "2026-03-31T04",
    ]


def test_autumn_change_keeps_one_run_per_day(make_api):
    clock = FakeClock(datetime(2026, 10, 24, 0, 0, tzinfo=UTC))  # 02:00 in Berlin
    api = make_api(rate_limits=False, clock=clock)
    secret = api.key()
    api.client.post(
        "/v1/report-schedules",
        headers=api.auth(secret),
        json={
            "report": {"format": "json"},
            "every": "daily",
            "at": "02:30",
            "timezone": "Europe/Berlin",
        },
    )
    total = 0
    for _ in range(3 * 24 * 4):
        total += run_due_schedules(api.services)
        clock.advance(minutes=15)
    assert total == 3  # 24, 25 (02:30 happens twice; one run) and 26 October


def test_weekly_schedule_and_listing(make_api):
    clock = FakeClock(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))  # a Monday
    api = make_api(rate_limits=False, clock=clock)
    secret = api.key()
    created = api.client.post(
        "/v1/report-schedules",
        headers=api.auth(secret),
        json={"report": {"format": "csv"}, "every": "weekly", "at": "08:00", "timezone": "UTC"},
    ).json()
    assert created["next_run_at"] == "2026-11-09T08:00:00.000000Z"
    total = 0
    for _ in range(15):
        clock.advance(days=1)
        total += run_due_schedules(api.services)
    assert total == 2
    listed = api.client.get("/v1/report-schedules", headers=api.auth(secret)).json()["data"]
    assert [s["id"] for s in listed] == [created["id"]]
    deleted = api.client.delete(f"/v1/report-schedules/{created['id']}", headers=api.auth(secret))
    assert deleted.status_code == 200
    clock.advance(days=7)
    assert run_due_schedules(api.services) == 0


def test_bad_schedules_are_422(api):
    secret = api.key()
    for body in (
        {"report": {}, "every": "hourly"},
        {"report": {}, "every": "daily", "at": "25:00"},
        {"report": {}, "every": "daily", "timezone": "Nowhere/Land"},
    ):
        response = api.client.post("/v1/report-schedules", headers=api.auth(secret), json=body)
        assert response.status_code == 422, (body, response.text)
