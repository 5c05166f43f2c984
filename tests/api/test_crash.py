"""Crash durability (R-T-6): SIGKILL the server under load; nothing acknowledged is lost.

The server runs as a subprocess (``causality serve``) on a loopback port. Eight clients
send batches of known event ids; the server is killed with SIGKILL at a random moment
(seeded), three times, and restarted. Every event whose request got a 2xx must be
stored exactly once; resending every unanswered batch with the same ids must then
bring the total to exactly the number sent, with no id twice.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

import httpx
import pytest

pytestmark = pytest.mark.slow

CLIENTS = 8
BATCHES_PER_CLIENT = 40
EVENTS_PER_BATCH = 50


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(data_dir, port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "causality",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            "--no-workers",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("the server did not start within 60 s")


def _batch(round_no: int, client: int, n: int) -> list[dict]:
    now = datetime.now(UTC).isoformat()
    return [
        {
            "event_id": f"r{round_no}-c{client}-b{n}-e{k}",
            "event_type": "touch",
            "timestamp": now,
            "user_id": f"user{client}-{k % 9}",
            "channel": {"source": "google", "medium": "cpc"},
        }
        for k in range(EVENTS_PER_BATCH)
    ]


def _client(url: str, key: str, batches: list[list[dict]], acked: list, unanswered: list) -> None:
    with httpx.Client(base_url=url, timeout=10, headers={"Authorization": f"Bearer {key}"}) as http:
        for i, batch in enumerate(batches):
            try:
                response = http.post("/v1/events", json={"events": batch})
            except httpx.TransportError:
                unanswered.extend(batches[i:])
                return
            if 200 <= response.status_code < 300:
                acked.append(batch)
            else:
                unanswered.append(batch)


def _stored_ids(db_path) -> list[str]:
    with sqlite3.connect(db_path) as conn:
        return [row[0] for row in conn.execute("SELECT event_id FROM events")]


def test_sigkill_loses_no_acknowledged_event_and_resends_do_not_duplicate(tmp_path):
    from causality.cli import main

    rng = random.Random(20261128)
    data_dir = tmp_path / "data"
    key_file = tmp_path / "key.txt"
    with open(key_file, "w") as out:
        stdout, sys.stdout = sys.stdout, out
        try:
            assert (
                main(
                    [
                        "keys",
                        "create",
                        "--mode",
                        "live",
                        "--name",
                        "crash",
                        "--data-dir",
                        str(data_dir),
                    ]
                )
                == 0
            )
        finally:
            sys.stdout = stdout
    key = key_file.read_text().strip()
    db_path = data_dir / "causality.sqlite3"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    acked: list[list[dict]] = []
    unanswered: list[list[dict]] = []
    sent = 0
    for round_no in range(3):
        server = _start(data_dir, port)
        work = [[_batch(round_no, c, n) for n in range(BATCHES_PER_CLIENT)] for c in range(CLIENTS)]
        sent += CLIENTS * BATCHES_PER_CLIENT * EVENTS_PER_BATCH
        threads = [
            threading.Thread(target=_client, args=(url, key, w, acked, unanswered)) for w in work
        ]
        for thread in threads:
            thread.start()
        time.sleep(rng.uniform(0.5, 2.5))
        os.kill(server.pid, signal.SIGKILL)
        server.wait()
        for thread in threads:
            thread.join(30)
        stored = _stored_ids(db_path)
        assert len(stored) == len(set(stored))
        acknowledged = {e["event_id"] for batch in acked for e in batch}
        assert acknowledged <= set(stored), "an acknowledged event was lost"
    assert unanswered, "the kill should interrupt some requests"
    server = _start(data_dir, port)
    try:
        leftover: list[list[dict]] = []
        _client(url, key, unanswered, [], leftover)
        retries = 0
        while leftover and retries < 20:  # 429s while many batches arrive at once
            time.sleep(1)
            batches, leftover = leftover, []
            _client(url, key, batches, [], leftover)
            retries += 1
        assert not leftover
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    stored = _stored_ids(db_path)
    assert len(stored) == sent == len(set(stored))
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
