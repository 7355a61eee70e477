"""``write_world``: a world's tables as the files margin ingests, plus ``truth.json``."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from margin.data.simulator.world import World
from margin.errors import ConfigError

__all__ = ["FILE_NAMES", "write_world"]

FILE_NAMES: tuple[str, ...] = (
    "spend.csv",
    "outcomes.csv",
    "controls.csv",
    "events.parquet",
    "transactions.csv",
    "experiments.csv",
    "panel.csv",
    "spec.toml",
    "truth.json",
)

_EVENTS_SCHEMA = pa.schema(
    [
        ("user_key", pa.string()),
        ("ts", pa.timestamp("us")),
        ("channel", pa.string()),
        ("campaign", pa.string()),
        ("creative", pa.string()),
        ("event", pa.string()),
        ("value", pa.float64()),
    ]
)


def write_world(world: World, out_dir: Path) -> dict[str, Path]:
    """Write every file of ``world`` into ``out_dir`` (created if missing, files replaced).

    Returns:
        File stem (``"spend"``, ``"events"``, ``"truth"``, ...) → the path written.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"write_world(out_dir={str(out_dir)!r}) is a file; pass a directory.")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {Path(name).stem: out_dir / name for name in FILE_NAMES}
    for name in ("spend", "outcomes", "controls", "experiments", "panel"):
        getattr(world, name).to_csv(paths[name], index=False)
    transactions = world.transactions.assign(
        ts=world.transactions["ts"].dt.strftime("%Y-%m-%dT%H:%M:%S.%f")
    )
    transactions.to_csv(paths["transactions"], index=False)
    table = pa.Table.from_pandas(world.events, schema=_EVENTS_SCHEMA, preserve_index=False)
    pq.write_table(table, paths["events"])
    paths["spec"].write_text(world.spec, encoding="utf-8")
    paths["truth"].write_text(
        json.dumps(world.truth, indent=2, allow_nan=False) + "\n", encoding="utf-8"
    )
    return paths
