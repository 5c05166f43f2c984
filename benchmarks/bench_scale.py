"""Events in Parquet to a path table and a Markov result with intervals, at 10M-100M events.

Usage::

    python benchmarks/bench_scale.py                          # 1M events (quick)
    python benchmarks/bench_scale.py --sizes 1e7 5e7 1e8      # the scale goals
    python benchmarks/bench_scale.py --sizes 1e7 --memory-limit 3GB --threads 2
    python benchmarks/bench_scale.py --sizes 1e7 --channels 64     # cost against channels

A seeded generator writes each size to Parquet first (not timed): a time-ordered log
over 90 days, ~12 events per person, 90% touches over 8 channels (``--channels``), 5% conversions
(10% of them offline), 5% identify events; a fifth of the persons never log in (only
an anonymous id), the others carry a user id on 70% of their events and both ids on
10%. Each size then runs in a fresh subprocess, so its peak memory (ru_maxrss of that
process, DuckDB included as it runs embedded) is its own:

1. ``Journeys.from_events(path)``: DuckDB validates, stitches identities and sorts by
   person and time (spilling beyond ``--memory-limit``); journeys are cut in Arrow batches;
2. ``journeys.paths()``: the aggregated path table;
3. ``ca.attribute(journeys, "markov", n_bootstrap=...)``: order-1 removal effects with
   bootstrap intervals.

It prints one JSON line per size to stderr and a table to stdout: events, journeys,
distinct paths, seconds per step, end-to-end seconds, events/s and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

CHANNELS = np.array(
    [
        "Paid Search",
        "Paid Social",
        "Email",
        "Display",
        "Organic Search",
        "Direct",
        "Affiliates",
        "Video",
    ],
    dtype=object,
)
CHANNEL_SHARES = np.array([0.20, 0.15, 0.10, 0.15, 0.15, 0.10, 0.05, 0.10])
KINDS = np.array(["touch", "conversion", "identify"], dtype=object)
DEVICES = np.array(["desktop", "mobile", "tablet"], dtype=object)
CHUNK = 2_000_000
DAY_NS = 86_400 * 10**9


def channel_mix(n_channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Channel names and shares: the 8 named channels, or ``ch00``... with geometric shares."""
    if n_channels == len(CHANNELS):
        return CHANNELS, CHANNEL_SHARES
    names = np.array([f"ch{k:02d}" for k in range(n_channels)], dtype=object)
    shares = 0.9 ** np.arange(n_channels)
    return names, shares / shares.sum()


def write_events(path: Path, n_events: int, seed: int = 0, n_channels: int = 8) -> None:
    """Write a seeded, time-ordered event log of ``n_events`` rows to Parquet, in chunks."""
    channels, shares = channel_mix(n_channels)
    n_persons = max(1, n_events // 12)
    start = np.datetime64("2024-01-01T00:00:00", "ns").astype(np.int64)
    n_chunks = -(-n_events // CHUNK)
    span = 90 * DAY_NS
    seeds = np.random.SeedSequence(seed).spawn(n_chunks)
    writer = None
    for k in range(n_chunks):
        rng = np.random.default_rng(seeds[k])
        m = min(CHUNK, n_events - k * CHUNK)
        person = rng.integers(0, n_persons, m)
        # Chunk k covers the k-th slice of the 90 days, so the file is in time order.
        offset = np.sort(rng.integers(k * span // n_chunks, (k + 1) * span // n_chunks, m))
        stamps = start + offset // 10**9 * 10**9
        draw = rng.random(m)
        kind = np.where(draw < 0.90, 0, np.where(draw < 0.95, 1, 2))
        ids = rng.random(m)
        anonymous_only = person % 5 == 0
        ident = pa.array(person).cast(pa.string())
        user = pc.binary_join_element_wise("u", ident, "")
        anon = pc.binary_join_element_wise("a", ident, "")
        table = pa.table(
            {
                "user_id": pc.if_else(pa.array(~anonymous_only & (ids < 0.7)), user, None),
                "anonymous_id": pc.if_else(pa.array(anonymous_only | (ids >= 0.6)), anon, None),
                "timestamp": pa.array(stamps.view("datetime64[ns]").astype("datetime64[us]")).cast(
                    pa.timestamp("us", tz="UTC")
                ),
                "event_type": pa.array(KINDS[kind], type=pa.string()),
                "channel": pa.array(
                    channels[rng.choice(len(channels), m, p=shares)],
                    mask=kind != 0,
                    type=pa.string(),
                ),
                "value": pa.array(np.round(rng.lognormal(3.5, 0.7, m), 2), mask=kind != 1),
                "offline": pa.array((kind == 1) & (rng.random(m) < 0.1)),
                "device": pa.array(DEVICES[person % 3], type=pa.string()),
            }
        )
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=1_000_000)
    if writer is not None:
        writer.close()


def run_one(path: Path, memory_limit: str, threads: int, n_bootstrap: int) -> dict:
    import causality as ca
    from causality.journeys.duckdb_events import journeys_from_duckdb

    n_events = pq.ParquetFile(path).metadata.num_rows
    start = time.perf_counter()
    journeys = journeys_from_duckdb(
        path, lookback="30D", memory_limit=memory_limit, threads=threads, progress=False
    )
    built = time.perf_counter()
    paths = journeys.paths()
    tabled = time.perf_counter()
    result = ca.attribute(journeys, "markov", n_bootstrap=n_bootstrap, seed=0)
    fitted = time.perf_counter()
    assert np.isclose(result.table["conversions"].sum(), journeys.total_conversions)
    return {
        "events": n_events,
        "journeys": len(journeys),
        "touches": journeys.n_touches,
        "distinct_paths": len(paths),
        "from_events_s": built - start,
        "paths_s": tabled - built,
        "markov_s": fitted - tabled,
        "total_s": fitted - start,
        "events_per_s": n_events / (fitted - start),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "cpu_s": sum(resource.getrusage(resource.RUSAGE_SELF)[:2]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=float, default=[1e6])
    parser.add_argument("--data-dir", type=Path, help="where the Parquet files go (kept)")
    parser.add_argument("--memory-limit", default="3GB", help="DuckDB's cap (default 3GB)")
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads (default 2)")
    parser.add_argument("--n-bootstrap", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--channels", type=int, default=8, help="channels in the data")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        out = run_one(args.child, args.memory_limit, args.threads, args.n_bootstrap)
        print(json.dumps(out))
        return
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as scratch:
        folder = args.data_dir or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        rows = [_measure(int(size), folder, args) for size in args.sizes]
    _print_table(rows, args)


def _measure(n_events: int, folder: Path, args: argparse.Namespace) -> dict:
    path = folder / f"events-{n_events}-seed{args.seed}.parquet"
    if args.channels != len(CHANNELS):
        path = path.with_name(f"events-{n_events}-seed{args.seed}-{args.channels}ch.parquet")
    if not path.exists():
        start = time.perf_counter()
        write_events(path, n_events, seed=args.seed, n_channels=args.channels)
        print(f"wrote {path} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    command = [sys.executable, __file__, "--child", str(path), "--memory-limit"]
    command += [args.memory_limit, "--threads", str(args.threads)]
    command += ["--n-bootstrap", str(args.n_bootstrap)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit(f"size {n_events:,} failed:\n{done.stderr}")
    row = json.loads(done.stdout.strip().splitlines()[-1])
    print(json.dumps(row), file=sys.stderr)
    return row


def _print_table(rows: list[dict], args: argparse.Namespace) -> None:
    print(
        f"# bench_scale: DuckDB memory_limit={args.memory_limit}, threads={args.threads}, "
        f"markov n_bootstrap={args.n_bootstrap}, {args.channels} channels; {platform.machine()}, "
        f"{platform.python_version()}"
    )
    print(
        "| events | journeys | distinct paths | from_events s | paths s | markov s | total s "
        "| events/s | peak RSS MB |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['events']:,} | {r['journeys']:,} | {r['distinct_paths']:,} "
            f"| {r['from_events_s']:.1f} | {r['paths_s']:.1f} | {r['markov_s']:.1f} "
            f"| {r['total_s']:.1f} | {r['events_per_s']:,.0f} | {r['peak_rss_mb']:,.0f} |"
        )


if __name__ == "__main__":
    main()
