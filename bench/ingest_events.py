"""Benchmark: `margin ingest events` of N million event rows from Parquet.

Usage: .venv/bin/python bench/ingest_events.py [--rows 10000000] [--update-docs]

Writes a seeded synthetic event log (user_key, ts, channel, campaign, creative, event,
value) to a temporary Parquet file, runs the `margin ingest events` command on it in a
fresh workspace, and prints the wall time; `--update-docs` records it in
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
CHANNELS = np.array(["search", "social", "display", "video", "email", "direct"])


def make_events(path: Path, n_rows: int, seed: int = 0) -> None:
    """Write ``n_rows`` synthetic events to ``path`` in row groups of one million."""
    rng = np.random.default_rng(seed)
    writer: pq.ParquetWriter | None = None
    start = np.datetime64("2024-01-01T00:00:00", "s")
    for offset in range(0, n_rows, 1_000_000):
        n = min(1_000_000, n_rows - offset)
        users = rng.integers(0, n_rows // 8 + 1, n)
        conversion = rng.random(n) < 0.03
        table = pa.table(
            {
                "user_key": pa.array(np.char.add("u", users.astype(str))),
                "ts": pa.array(start + rng.integers(0, 365 * 86400, n).astype("timedelta64[s]")),
                "channel": pa.array(CHANNELS[rng.integers(0, len(CHANNELS), n)]),
                "campaign": pa.array(np.char.add("cmp_", rng.integers(0, 40, n).astype(str))),
                "creative": pa.array(np.char.add("cr_", rng.integers(0, 200, n).astype(str))),
                "event": pa.array(np.where(conversion, "conversion", "touch")),
                "value": pa.array(np.where(conversion, rng.gamma(2.0, 30.0, n), 0.0)),
            }
        )
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    if writer is not None:
        writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--update-docs", action="store_true")
    args = parser.parse_args()
    margin = Path(sys.executable).with_name("margin")
    with tempfile.TemporaryDirectory(prefix="margin-bench-") as tmp:
        events = Path(tmp) / "events.parquet"
        t0 = time.perf_counter()
        make_events(events, args.rows)
        made = time.perf_counter() - t0
        size_mb = events.stat().st_size / 1e6
        t0 = time.perf_counter()
        subprocess.run(
            [
                str(margin),
                "ingest",
                "events",
                str(events),
                "--workspace",
                str(Path(tmp) / "w.duckdb"),
            ],
            check=True,
        )
        took = time.perf_counter() - t0
    line = (
        f"| ingest events (Parquet → workspace) | {args.rows:,} rows, {size_mb:.0f} MB | {took:.1f} s "
        f"| {args.rows / took / 1e6:.2f} M rows/s |"
    )
    print(f"generated in {made:.1f} s; ingested in {took:.1f} s")
    print(line)
    if args.update_docs:
        _update_docs(line)


def _update_docs(line: str) -> None:
    import duckdb

    docs = ROOT / "docs" / "benchmarks.md"
    text = docs.read_text(encoding="utf-8") if docs.exists() else "# Benchmarks\n"
    section = (
        "\n## Ingestion\n\n"
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"DuckDB {duckdb.__version__}. Command: `.venv/bin/python bench/ingest_events.py --update-docs`.\n"
        "Wall time of the whole `margin ingest events` command (process start, read, hash, "
        "validate, write, commit).\n\n"
        "| task | size | wall time | throughput |\n|---|---|---|---|\n"
        f"{line}\n"
    )
    head, sep, rest = text.partition("\n## Ingestion\n")
    if sep:
        tail = rest.split("\n## ", 1)
        text = head + section + ("\n## " + tail[1] if len(tail) > 1 else "")
    else:
        text = text.rstrip("\n") + "\n" + section
    docs.parent.mkdir(exist_ok=True)
    docs.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
