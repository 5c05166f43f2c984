"""Throughput and latency of the HTTP API, on SQLite and PostgreSQL.

Usage::

    python benchmarks/bench_api.py                    # 10 clients x 60 s, both back ends
    python benchmarks/bench_api.py --quick            # 10 clients x 8 s, smaller data
    python benchmarks/bench_api.py --backends sqlite --duration 30
    python benchmarks/bench_api.py --backends sqlite --load-only --duration 20  # ingest only

Per back end it starts ``causality serve`` as a subprocess on a loopback port (rate
limits off, one job worker), then measures, over real HTTP:

* load: ``--clients`` threads posting 100-event batches for ``--duration`` seconds;
  events/s, latency percentiles, 5xx count, and a check that every sent event is
  stored exactly once. The bodies are serialised before the clock starts and each
  client posts them over one keep-alive connection of the standard library's HTTP
  client (`Poster`), so the clients take as little as they can of the cores they
  share with the server;
* ``POST /v1/events`` with 500 events, one client: latency percentiles;
* ``GET /v1/attribution`` (markov): the first, uncached call, then cached calls;
* uncached markov over ``--stored`` stored events (1M by default; rows are bulk-loaded
  through the storage layer up to that total, the server restarts and loads them into
  its in-memory event columns in the background (timed and reported apart), then the
  query is timed over HTTP).

PostgreSQL runs on a private server started with initdb/pg_ctl (as the tests do).
Results go to ``results/bench_api.md`` (``results/quick/`` with ``--quick``) and stdout.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHANNELS = [
    ("google", "cpc"),
    ("facebook", "paid_social"),
    ("newsletter", "email"),
    ("(direct)", "(none)"),
    ("google", "organic"),
    ("partner", "affiliate"),
    ("cnn", "display"),
    ("bing", "cpc"),
]


def percentiles(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    data = np.asarray(samples) * 1000
    return {f"p{q}": float(np.percentile(data, q)) for q in (50, 95, 99)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``causality serve`` in a subprocess."""

    def __init__(self, data_dir: Path, database: str | None, extra: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        storage = ["--data-dir", str(data_dir)] + (["--database", database] if database else [])
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "causality",
                "keys",
                "create",
                "--mode",
                "live",
                "--name",
                "bench",
                *storage,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        self.key = out.stdout.strip()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "causality",
                "serve",
                "--port",
                str(self.port),
                "--no-rate-limits",
                "--log-level",
                "warning",
                *storage,
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        raise RuntimeError("server did not start")

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, timeout=60, headers={"Authorization": f"Bearer {self.key}"}
        )

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


class Poster:
    """One keep-alive connection that posts pre-serialised event batches (the load clients).

    The standard library's client spends about a quarter of httpx's CPU per request
    (measured 0.5 ms against 1.7 ms for a 20 kB body); the clients share the machine's
    cores with the server, so every millisecond they spend is taken from it.
    """

    def __init__(self, server: Server) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        self.headers = {
            "Authorization": f"Bearer {server.key}",
            "Content-Type": "application/json",
        }

    def post(self, body: bytes) -> tuple[int, bytes]:
        """``POST /v1/events``; the status and body of the answer."""
        self.conn.request("POST", "/v1/events", body=body, headers=self.headers)
        response = self.conn.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self.conn.close()


def batch(prefix: str, n: int, size: int, rng: np.random.Generator, now: datetime) -> bytes:
    events = []
    for k in range(size):
        user = f"u{int(rng.integers(0, 20_000))}"
        at = (now - timedelta(seconds=int(rng.integers(0, 6 * 86_400)))).isoformat()
        if rng.random() < 0.05:
            events.append(
                {
                    "event_id": f"{prefix}-{n}-{k}",
                    "event_type": "conversion",
                    "timestamp": at,
                    "user_id": user,
                    "conversion": {"name": "purchase", "value": "42.50"},
                }
            )
        else:
            source, medium = CHANNELS[int(rng.integers(0, len(CHANNELS)))]
            events.append(
                {
                    "event_id": f"{prefix}-{n}-{k}",
                    "event_type": "touch",
                    "timestamp": at,
                    "user_id": user,
                    "channel": {"source": source, "medium": medium},
                }
            )
    return json.dumps({"events": events}).encode()


def process_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) a process has used so far; None off Linux."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(server: Server, clients: int, duration: float) -> dict:
    now = datetime.now(UTC)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    sent = [0]
    lock = threading.Lock()

    # Bodies are built before the clock starts, so the clients' JSON encoding does not
    # compete with the server for the machine's cores during the measurement. A client
    # that has sent all of its bodies sends them again under new event ids (a byte
    # replacement), so none runs dry before the time is up however fast the server is.
    per_client = max(20, int(duration * 12))
    bodies = [
        [
            batch(f"load{c}", n, 100, np.random.default_rng(c * 100_000 + n), now)
            for n in range(per_client)
        ]
        for c in range(clients)
    ]
    stop_at = time.monotonic() + duration

    def work(c: int) -> None:
        poster = Poster(server)
        try:
            for body in _renamed_forever(bodies[c]):
                if time.monotonic() >= stop_at:
                    break
                started = time.perf_counter()
                status, _ = poster.post(body)
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    statuses[status] = statuses.get(status, 0) + 1
                    if status == 200:
                        sent[0] += 100
        finally:
            poster.close()

    started = time.perf_counter()
    cpu_before = process_cpu_s(server.process.pid)
    threads = [threading.Thread(target=work, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    cpu_after = process_cpu_s(server.process.pid)
    # The server's CPU per event: steadier than events/s on a shared machine, and what
    # bounds ingest when the server is one process.
    server_cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    return {
        "events": sent[0],
        "events_per_s": sent[0] / wall,
        "server_cores": None if server_cpu is None else server_cpu / wall,
        "server_cpu_us_per_event": None if server_cpu is None else 1e6 * server_cpu / sent[0],
        "requests": len(latencies),
        "statuses": statuses,
        "server_errors": sum(v for k, v in statuses.items() if k >= 500),
        **percentiles(latencies),
    }


def _renamed_forever(bodies: list[bytes]) -> Iterator[bytes]:
    """The bodies, then again and again with every event id prefixed by the round."""
    for round_ in itertools.count():
        prefix = f'"r{round_}load'.encode()
        for body in bodies:
            yield body if round_ == 0 else body.replace(b'"load', prefix)


def post_500(server: Server, n: int) -> dict:
    rng = np.random.default_rng(99)
    now = datetime.now(UTC)
    latencies = []
    poster = Poster(server)
    try:
        for i in range(n):
            body = batch("big", i, 500, rng, now)
            started = time.perf_counter()
            status, answer = poster.post(body)
            latencies.append(time.perf_counter() - started)
            assert status == 200, answer[:300]
    finally:
        poster.close()
    return percentiles(latencies)


def attribution(server: Server, n_cached: int) -> dict:
    params = {"model": "markov"}
    with server.client() as http:
        started = time.perf_counter()
        first = http.get("/v1/attribution", params=params)
        uncached = time.perf_counter() - started
        while first.status_code == 202:  # a slow first fit: poll the run (often, to time it)
            time.sleep(0.05)
            run = http.get(first.headers["Location"]).json()
            if run["status"] in ("succeeded", "failed"):
                uncached = time.perf_counter() - started
                break
        latencies = []
        for _ in range(n_cached):
            started = time.perf_counter()
            response = http.get("/v1/attribution", params=params)
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200
    return {"uncached_s": uncached, **{f"cached_{k}": v for k, v in percentiles(latencies).items()}}


def columns_ready(server: Server, timeout: float = 600) -> float:
    """Seconds until the server has loaded the live events into its event columns.

    The load runs in the background at start; attribution queries before it ends wait.
    """
    started = time.perf_counter()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        columns = httpx.get(server.url + "/v1/health", timeout=10).json().get("event_columns")
        if columns is None:
            return float("nan")  # the server keeps no columns
        if columns["live"]["ready"]:
            return time.perf_counter() - started
        time.sleep(0.2)
    raise RuntimeError("the event columns did not load in time")


def load_average() -> str:
    """The 1-minute load average (the machine is shared)."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "n/a"


def stored_count(server: Server, database: str | None, data_dir: Path) -> tuple[int, int]:
    query = "SELECT count(*), count(DISTINCT event_id) FROM events"
    if database is None:
        import sqlite3

        with sqlite3.connect(data_dir / "causality.sqlite3") as conn:
            return tuple(conn.execute(query).fetchone())
    import psycopg

    with psycopg.connect(database) as conn:
        return tuple(conn.execute(query).fetchone())


def bulk_load(database: str | None, data_dir: Path, n_events: int) -> None:
    """Write ``n_events`` synthetic events straight through the storage layer."""
    from causality.api.event_store import record_change
    from causality.api.settings import Settings
    from causality.api.storage import Database
    from causality.api.storage.inserts import insert_rows
    from causality.api.timeutil import to_micros

    settings = Settings(data_dir=data_dir, database_url=database)
    db = Database(settings.url)
    rng = np.random.default_rng(7)
    now = to_micros(datetime.now(UTC))
    chunk = 100_000
    groups = [
        "Paid Search",
        "Paid Social",
        "Email",
        "Direct",
        "Organic Search",
        "Affiliates",
        "Display",
        "Referral",
    ]
    for start in range(0, n_events, chunk):
        n = min(chunk, n_events - start)
        ts = now - rng.integers(0, 25 * 86_400 * 1_000_000, n)
        users = rng.integers(0, n_events // 10, n)
        conv = rng.random(n) < 0.05
        group = rng.integers(0, len(groups), n)
        rows = [
            {
                "mode": "live",
                "event_id": f"bulk-{start + i}",
                "event_type": "conversion" if conv[i] else "touch",
                "name": "purchase" if conv[i] else None,
                "user_id": f"b{users[i]}",
                "anonymous_id": None,
                "ts": int(ts[i]),
                "original_timestamp": "bulk",
                "sent_at": None,
                "received_at": now,
                "source": None,
                "medium": None,
                "campaign": None,
                "term": None,
                "content": None,
                "campaign_id": None,
                "referrer": None,
                "gclid": None,
                "fbclid": None,
                "msclkid": None,
                "channel_group": None if conv[i] else groups[group[i]],
                "rule_set": "bench",
                "value": 42.5 if conv[i] else None,
                "currency": "USD" if conv[i] else None,
                "order_id": None,
                "offline": False,
                "source_system": None,
                "match_status": None,
                "matched_user_id": None,
                "matched_anonymous_id": None,
                "session_id": None,
                "properties": None,
                "context": None,
                "first_touch": None,
                "import_id": None,
            }
            for i in range(n)
        ]
        with db.write() as conn:
            insert_rows(conn, rows)
            record_change(conn, "live", now, rows=rows)
    db.close()


def run_backend(name: str, args: argparse.Namespace, pg) -> dict:
    data_dir = Path(tempfile.mkdtemp(prefix=f"bench-api-{name}-"))
    database = pg.create_database(f"bench_{int(time.time())}") if name == "postgresql" else None
    server = Server(data_dir, database)
    out: dict = {"backend": name, "load_average_start": load_average()}
    try:
        print(f"[{name}] load: {args.clients} clients x {args.duration:.0f} s", file=sys.stderr)
        out["load"] = load(server, args.clients, args.duration)
        stored, distinct = stored_count(server, database, data_dir)
        out["load"]["stored_ok"] = stored == distinct == out["load"]["events"]
        print(f"[{name}] POST 500 events", file=sys.stderr)
        out["post_500"] = post_500(server, args.big_batches)
        print(f"[{name}] attribution", file=sys.stderr)
        out["attribution"] = attribution(server, args.cached)
    finally:
        server.stop()
    # Top the store up to --stored events, so the query runs over that many whatever the
    # load phase stored.
    missing = max(0, args.stored - stored_count(server, database, data_dir)[0])
    print(f"[{name}] bulk-loading {missing:,} events", file=sys.stderr)
    bulk_load(database, data_dir, missing)
    started = time.perf_counter()
    server = Server(data_dir, database)
    try:
        total = stored_count(server, database, data_dir)[0]
        out["stored"] = {"events": total, "server_start_s": time.perf_counter() - started}
        # Attribution reads the in-memory event columns, loaded in the background at
        # start; time that load separately from the query.
        out["stored"]["columns_load_s"] = columns_ready(server)
        out["stored"].update(attribution(server, 20))
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    out["load_average_end"] = load_average()
    return out


def run_load_only(name: str, args: argparse.Namespace, pg) -> dict:
    """The load phase alone, on a fresh store (for iterating on ingest speed)."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"bench-api-{name}-"))
    database = pg.create_database(f"bench_{int(time.time())}") if name == "postgresql" else None
    server = Server(data_dir, database)
    try:
        out = {"load_average_start": load_average(), **load(server, args.clients, args.duration)}
        stored, distinct = stored_count(server, database, data_dir)
        out["stored_ok"] = stored == distinct == out["events"]
        out["load_average_end"] = load_average()
        return out
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def report(results: list[dict], args: argparse.Namespace) -> str:
    lines = [
        "# HTTP API benchmark",
        "",
        f"`python benchmarks/bench_api.py {' '.join(sys.argv[1:])}` on "
        f"{datetime.now(UTC):%Y-%m-%d}, {platform.platform()}, {platform.processor() or 'cpu'}, "
        f"Python {platform.python_version()}; server and clients share the machine.",
        "",
        "| back end | load events/s | server cores / CPU us per event "
        "| load p50 / p95 / p99 ms (100 events) | 5xx | stored once "
        "| POST 500 p50 / p95 ms | attribution uncached s | cached p50 / p95 / p99 ms "
        "| stored events | columns load s | markov uncached s | cached p95 ms | load avg |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        ld, big, at, st = r["load"], r["post_500"], r["attribution"], r["stored"]
        lines.append(
            f"| {r['backend']} | {ld['events_per_s']:,.0f} | {_cpu(ld)} "
            f"| {ld['p50']:.0f} / {ld['p95']:.0f} / "
            f"{ld['p99']:.0f} | {ld['server_errors']} | {'yes' if ld['stored_ok'] else 'NO'} | "
            f"{big['p50']:.0f} / {big['p95']:.0f} | {at['uncached_s']:.2f} | "
            f"{at['cached_p50']:.1f} / {at['cached_p95']:.1f} / {at['cached_p99']:.1f} | "
            f"{st['events']:,} | {st['columns_load_s']:.1f} | {st['uncached_s']:.2f} | "
            f"{st['cached_p95']:.1f} | {r['load_average_start']} -> {r['load_average_end']} |"
        )
    lines += [
        "",
        "Goals (issue 6): POST of 500 events p95 <= 250 ms, cached attribution p95 <= "
        "50 ms, uncached markov over 1M stored events <= 2 s, >= 20,000 events/s, zero 5xx.",
        "",
        "*server cores / CPU us per event*: the server process's CPU time during the load "
        "phase, per second and per stored event; one process, so its Python code runs on "
        "about one core at a time (the GIL), and ingest is bounded by its CPU per event. "
        "*columns load*: after the restart, the server loads the stored events into its "
        "in-memory event columns in the background (`causality.api.columns`); *markov "
        "uncached* is timed once they are loaded. *load avg*: the machine's 1-minute load "
        "average at the start and end of the back end's run (2 cores, shared).",
    ]
    return "\n".join(lines) + "\n"


def _cpu(load_result: dict) -> str:
    if load_result.get("server_cores") is None:
        return "n/a"
    return f"{load_result['server_cores']:.2f} / {load_result['server_cpu_us_per_event']:.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--backends", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"]
    )
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--big-batches", type=int, default=40)
    parser.add_argument("--cached", type=int, default=200)
    parser.add_argument("--stored", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--load-only",
        action="store_true",
        help="run the ingest load phase only (print its figures; write no results file)",
    )
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so the PostgreSQL server and the API server stop too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.quick:
        args.duration, args.big_batches, args.cached, args.stored = 8.0, 10, 50, 50_000
    out_dir = args.out or ROOT / "benchmarks" / "results" / ("quick" if args.quick else "")
    pg = None
    if "postgresql" in args.backends:
        from tests.api.postgres import PostgresServer, find_pg_bin

        pg = PostgresServer(find_pg_bin())
        pg.start()
    try:
        if args.load_only:
            for name in args.backends:
                print(json.dumps({"backend": name, **run_load_only(name, args, pg)}))
            return 0
        results = [run_backend(name, args, pg) for name in args.backends]
    finally:
        if pg is not None:
            pg.stop()
    text = report(results, args)
    print(text)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "bench_api.md").write_text(text)
    (out_dir / "bench_api.json").write_text(json.dumps(results, indent=1))
    failed = any(r["load"]["server_errors"] or not r["load"]["stored_ok"] for r in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
