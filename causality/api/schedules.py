"""Report schedules: a report every day or week at a local time, DST-safe.

``next_run_at`` is the next occurrence of ``at`` in the schedule's time zone,
computed on the local calendar (so 06:00 stays 06:00 across a DST change). A
worker that finds a schedule due claims it with a conditional UPDATE on its
``next_run_at``, so each period yields exactly one report, however many workers
poll; periods missed while no worker ran are not replayed.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, update

from causality.api.ids import new_id
from causality.api.jobs import queue
from causality.api.problems import Problem
from causality.api.storage.tables import report_schedules
from causality.api.timeutil import format_micros, from_micros, to_micros

PERIODS = {"daily": 1, "weekly": 7}


def _invalid(pointer: str, detail: str) -> Problem:
    return Problem(
        "validation_error",
        detail,
        param=pointer,
        errors=[{"pointer": pointer, "code": "invalid_value", "detail": detail}],
    )


def parse_schedule(every: str, at: str, timezone: str) -> tuple[int, time, ZoneInfo]:
    """Validate ``every``, ``at`` (``HH:MM``) and ``timezone``."""
    if every not in PERIODS:
        raise _invalid("/every", "every must be 'daily' or 'weekly'")
    match = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", at or "")
    if match is None:
        raise _invalid("/at", "at must be a local time HH:MM, e.g. 06:00")
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise _invalid("/timezone", f"unknown IANA time zone {timezone!r}") from None
    return PERIODS[every], time(int(match.group(1)), int(match.group(2))), zone


def next_occurrence(
    after_us: int, every: str, at: str, timezone: str, *, anchor: date | None = None
) -> int:
    """The first run time strictly after ``after_us`` (epoch µs).

    Weekly schedules run on the weekday of ``anchor`` (their creation date).

    Examples
    --------
    >>> before = to_micros(datetime(2026, 3, 28, 12, tzinfo=ZoneInfo("Europe/Berlin")))
    >>> first = next_occurrence(before, "daily", "06:00", "Europe/Berlin")
    >>> second = next_occurrence(first, "daily", "06:00", "Europe/Berlin")
    >>> format_micros(first), format_micros(second)
    ('2026-03-29T04:00:00.000000Z', '2026-03-30T04:00:00.000000Z')
    """
    step, clock, zone = parse_schedule(every, at, timezone)
    local = from_micros(after_us).astimezone(zone)
    day = local.date()
    while True:
        if step == 7 and anchor is not None and (day - anchor).days % 7:
            day += timedelta(days=1)
            continue
        candidate = to_micros(datetime.combine(day, clock, tzinfo=zone))
        if candidate > after_us:
            return candidate
        day += timedelta(days=1)


def create_schedule(
    conn: Any, *, mode: str, spec: dict[str, Any], every: str, at: str, timezone: str, now_us: int
) -> dict[str, Any]:
    """Store a schedule; returns its API form."""
    parse_schedule(every, at, timezone)
    schedule_id = new_id("sch")
    anchor = from_micros(now_us).astimezone(ZoneInfo(timezone)).date()
    row = {
        "id": schedule_id,
        "mode": mode,
        "spec": json.dumps({**spec, "anchor": anchor.isoformat()}),
        "every": every,
        "at": at,
        "timezone": timezone,
        "next_run_at": next_occurrence(now_us, every, at, timezone, anchor=anchor),
        "created_at": now_us,
    }
    conn.execute(report_schedules.insert().values(**row))
    return schedule_json(row)


def schedule_json(row: Any) -> dict[str, Any]:
    """The API form of a schedule row."""
    get = row.get if isinstance(row, dict) else lambda k: getattr(row, k)
    spec = json.loads(get("spec"))
    spec.pop("anchor", None)
    return {
        "object": "report_schedule",
        "id": get("id"),
        "report": spec.get("report"),
        "every": get("every"),
        "at": get("at"),
        "timezone": get("timezone"),
        "next_run_at": format_micros(get("next_run_at")),
        "last_run_at": format_micros(get("last_run_at")),
        "created_at": format_micros(get("created_at")),
    }


def run_due_schedules(services: Any) -> int:
    """Queue one report for every due schedule; returns how many were queued."""
    from causality.api.reports import report_payload

    now = services.now_us()
    with services.db.read() as conn:
        due = conn.execute(
            select(report_schedules).where(report_schedules.c.next_run_at <= now)
        ).all()
    queued = 0
    for row in due:
        spec = json.loads(row.spec)
        anchor = date.fromisoformat(spec["anchor"])
        following = next_occurrence(now, row.every, row.at, row.timezone, anchor=anchor)
        with services.db.write() as conn:
            claimed = conn.execute(
                update(report_schedules)
                .where(
                    report_schedules.c.id == row.id,
                    report_schedules.c.next_run_at == row.next_run_at,
                )
                .values(next_run_at=following, last_run_at=now)
            ).rowcount
            if not claimed:
                continue  # another worker took this period
            try:
                payload = report_payload(spec["report"], services.settings)
            except Problem as problem:
                payload = {
                    "type": spec["report"].get("type"),
                    "format": spec["report"].get("format"),
                    "query": None,
                    "spec": spec["report"],
                    "error": problem.detail,
                }
            queue.enqueue(
                conn, mode=row.mode, kind="report", payload=payload, now_us=now, schedule_id=row.id
            )
            queued += 1
    return queued
