"""Synthetic touch-and-conversion logs for the attribution benchmarks.

Usage: .venv/bin/python bench/attribution_data.py OUT.parquet [--events 10000000] [--users 1000000]

About ``events`` rows over ``users`` users and 10 channels (one of them ``direct``) in
90 days: touches at uniform times; after a touch of channel ``c`` a conversion follows
an hour later with probability ``p_c`` (value Gamma(2, 30)), so channels differ in how
often they precede conversions. Written in row groups of one million, seeded.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

CHANNELS = np.array(
    [
        "search",
        "social",
        "display",
        "video",
        "email",
        "direct",
        "affiliate",
        "tv",
        "radio",
        "podcast",
    ]
)
POPULARITY = np.array([0.22, 0.18, 0.14, 0.08, 0.1, 0.1, 0.06, 0.05, 0.04, 0.03])
CONVERSION = np.array([0.05, 0.02, 0.01, 0.015, 0.04, 0.06, 0.03, 0.01, 0.01, 0.02])
_DAY_US = 86_400 * 1_000_000
_HOUR_US = 3_600 * 1_000_000


def make_events(
    path: Path, n_events: int = 10_000_000, n_users: int = 1_000_000, seed: int = 0
) -> int:
    """Write about ``n_events`` events to ``path``; returns the number written."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2024-01-01T00:00:00", "us").astype(np.int64)
    mean_conv = float(POPULARITY @ CONVERSION)
    n_touches_total = int(n_events / (1 + mean_conv))
    writer: pq.ParquetWriter | None = None
    written = 0
    chunk = 1_000_000
    for offset in range(0, n_touches_total, chunk):
        n = min(chunk, n_touches_total - offset)
        user = rng.integers(0, n_users, n)
        channel = rng.choice(len(CHANNELS), n, p=POPULARITY)
        ts = start + rng.integers(0, 90 * _DAY_US, n)
        converts = rng.random(n) < CONVERSION[channel]
        k = int(converts.sum())
        keys = np.char.add("u", np.concatenate([user, user[converts]]).astype(str))
        names = np.concatenate([CHANNELS[channel], np.full(k, None, dtype=object)])
        table = pa.table(
            {
                "user_key": pa.array(keys),
                "ts": pa.array(
                    np.concatenate([ts, ts[converts] + _HOUR_US]).astype("datetime64[us]")
                ),
                "channel": pa.array(names, pa.string()),
                "campaign": pa.array(
                    np.concatenate(
                        [np.char.add("c", rng.integers(0, 5, n).astype(str)), np.full(k, "")]
                    )
                ),
                "event": pa.array(np.repeat(["touch", "conversion"], [n, k])),
                "value": pa.array(
                    np.concatenate([np.zeros(n), np.round(rng.gamma(2.0, 30.0, k), 2)])
                ),
            }
        )
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
        written += table.num_rows
    if writer is not None:
        writer.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", type=Path)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n = make_events(args.out, args.events, args.users, args.seed)
    print(f"wrote {n:,} events to {args.out}")


if __name__ == "__main__":
    main()
