"""Aggregated paths: the table every model runs on.

A :class:`PathTable` holds distinct paths (sequences of channel indices) with, per path,
the number of journeys that converted, their total value and the number that did not
(ChannelAttribution's ``total_conversions``, ``total_conversion_value``, ``total_null``).
Steps are stored flat: path ``i`` is ``steps[offsets[i]:offsets[i + 1]]``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from margin.errors import DataValidationError
from margin.types import FloatArray, IntArray

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "PathTable",
    "collapse_repeats",
    "path_table_from_strings",
    "read_paths",
]

DISPLAY_SEPARATOR = " > "


@dataclass(frozen=True)
class PathTable:
    """Distinct paths and their outcomes.

    Attributes:
        channels: channel labels, sorted; steps index into it.
        offsets: ``(n_paths + 1,)`` start of each path in ``steps``.
        steps: ``(n_steps,)`` channel index of each touch, path after path.
        conversions: ``(n_paths,)`` converting journeys with this path.
        value: ``(n_paths,)`` their total conversion value.
        nulls: ``(n_paths,)`` journeys with this path that did not convert.
        decay: ``(n_steps,)`` time-decay share of each step, averaged over the path's
            converting journeys (None: aggregated paths without timestamps).
        decay_value: ``(n_steps,)`` the same weighted by each journey's value.
    """

    channels: tuple[str, ...]
    offsets: IntArray
    steps: IntArray
    conversions: FloatArray
    value: FloatArray
    nulls: FloatArray
    decay: FloatArray | None = None
    decay_value: FloatArray | None = None

    @property
    def n_paths(self) -> int:
        return int(self.conversions.size)

    @property
    def n_channels(self) -> int:
        return len(self.channels)

    @functools.cached_property
    def lengths(self) -> IntArray:
        """``(n_paths,)`` touches per path."""
        return np.diff(self.offsets)

    @functools.cached_property
    def path_of_step(self) -> IntArray:
        """``(n_steps,)`` the path each step belongs to."""
        return np.repeat(np.arange(self.n_paths, dtype=np.int64), self.lengths)

    @functools.cached_property
    def position(self) -> IntArray:
        """``(n_steps,)`` the 0-based position of each step in its path."""
        return np.arange(self.steps.size, dtype=np.int64) - np.repeat(
            self.offsets[:-1], self.lengths
        )

    def path_strings(self, separator: str = DISPLAY_SEPARATOR) -> list[str]:
        """Each path as ``"a > b > c"``."""
        names = np.array(self.channels, dtype=object)[self.steps]
        return [
            separator.join(names[self.offsets[i] : self.offsets[i + 1]])
            for i in range(self.n_paths)
        ]

    def to_arrow(self) -> pa.Table:
        """The table in ChannelAttribution's layout (``path`` as ``a > b > c``)."""
        import pyarrow as pa

        return pa.table(
            {
                "path": self.path_strings(),
                "total_conversions": self.conversions,
                "total_conversion_value": self.value,
                "total_null": self.nulls,
            }
        )


def path_table_from_strings(
    paths: pa.Array | pa.ChunkedArray | list[str],
    conversions: npt.ArrayLike,
    value: npt.ArrayLike,
    nulls: npt.ArrayLike,
    separator: str = ">",
    *,
    strip: bool = True,
    merge: bool = True,
) -> PathTable:
    """Build a :class:`PathTable` from path strings (rows with the same path are summed).

    Args:
        paths: ``(n,)`` channels joined by ``separator``.
        strip: trim spaces around each channel name (``"a > b"``).
        merge: sum rows with equal paths (skip when the paths are known to be distinct).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    array = pa.chunked_array([pa.array(paths, pa.string())]) if isinstance(paths, list) else paths
    array = pc.cast(array, pa.string())
    parts = pc.split_pattern(array, separator)
    flat = pc.list_flatten(parts)
    if strip:
        flat = pc.utf8_trim_whitespace(flat)
    lengths = pc.list_value_length(parts).to_numpy(zero_copy_only=False).astype(np.int64)
    encoded = pc.dictionary_encode(flat).combine_chunks()
    names = encoded.dictionary.to_pylist()
    order = np.argsort(np.array(names, dtype=object), kind="stable")
    rank = np.empty(len(names), dtype=np.int64)
    rank[order] = np.arange(len(names))
    steps = rank[encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    table = PathTable(
        channels=tuple(str(names[i]) for i in order),
        offsets=offsets,
        steps=steps,
        conversions=np.asarray(conversions, dtype=np.float64),
        value=np.asarray(value, dtype=np.float64),
        nulls=np.asarray(nulls, dtype=np.float64),
    )
    return merge_duplicates(table) if merge else table


def _path_keys(table: PathTable) -> IntArray:
    """``(n_paths,)`` an id per distinct step sequence (equal paths get equal ids)."""
    if table.n_paths == 0:
        return np.zeros(0, dtype=np.int64)
    strings = np.array(
        [
            table.steps[table.offsets[i] : table.offsets[i + 1]].tobytes()
            for i in range(table.n_paths)
        ],
        dtype=object,
    )
    _, inverse = np.unique(strings, return_inverse=True)
    return inverse.astype(np.int64)


def merge_duplicates(table: PathTable) -> PathTable:
    """Sum the rows of equal paths (keeping the first row's order)."""
    keys = _path_keys(table)
    if keys.size == 0 or np.unique(keys).size == keys.size:
        return table
    if table.decay is not None:
        raise ValueError("merge_duplicates needs a table without per-step decay shares")
    first = np.unique(keys, return_index=True)[1]
    keep = np.sort(first)
    new_id = np.empty(keys.max() + 1, dtype=np.int64)
    new_id[keys[keep]] = np.arange(keep.size)
    group = new_id[keys]
    lengths = table.lengths[keep]
    starts = table.offsets[keep]
    steps = np.concatenate([table.steps[s : s + n] for s, n in zip(starts, lengths, strict=True)])
    return replace(
        table,
        offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        steps=steps.astype(np.int64),
        conversions=np.bincount(group, table.conversions, keep.size),
        value=np.bincount(group, table.value, keep.size),
        nulls=np.bincount(group, table.nulls, keep.size),
    )


def collapse_repeats(table: PathTable) -> PathTable:
    """Merge consecutive touches of the same channel (``a > a > b`` becomes ``a > b``)."""
    steps = table.steps
    if steps.size == 0:
        return table
    path = table.path_of_step
    same_next = np.zeros(steps.size, dtype=bool)
    same_next[:-1] = (steps[:-1] == steps[1:]) & (path[:-1] == path[1:])
    keep = ~same_next
    lengths = np.bincount(path[keep], minlength=table.n_paths)
    collapsed = replace(
        table,
        offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        steps=steps[keep],
        decay=None,
        decay_value=None,
    )
    return merge_duplicates(collapsed)


_PATH_COLUMNS = {
    "path": ("path", "paths", "journey"),
    "total_conversions": ("total_conversions", "conversions", "conv"),
    "total_conversion_value": ("total_conversion_value", "conversion_value", "value", "revenue"),
    "total_null": ("total_null", "null", "nulls", "total_nulls"),
}


def read_paths(path: str | Path) -> PathTable:
    """Read aggregated paths in ChannelAttribution's layout from CSV (``,`` or ``;``) or Parquet.

    Columns: ``path`` (``a > b > c``), ``total_conversions``, and optionally
    ``total_conversion_value`` and ``total_null`` (0 when absent).

    Raises:
        DataValidationError: a missing column, a blank path, or counts that are not
            numbers of 0 or more (rows named).
    """
    import duckdb

    from margin.data.ingest.readers import parse_number_column, stage_file

    con = duckdb.connect()
    try:
        staged = stage_file(con, path, "_paths")
        found = {k: staged.find(*names) for k, names in _PATH_COLUMNS.items()}
        missing = [k for k in ("path", "total_conversions") if found[k] is None]
        if missing:
            raise DataValidationError(
                f"file {staged.path} (aggregated paths): missing column(s) {missing}; it has "
                f"{list(staged.columns)}. margin reads ChannelAttribution's layout: path "
                "('a > b > c'), total_conversions, total_conversion_value, total_null"
            )
        exprs = {
            key: "CAST(0 AS DOUBLE)"
            if column is None
            else f"COALESCE({parse_number_column(con, staged, column)}, 0)"
            for key, column in found.items()
            if key != "path"
        }
        path_col = found["path"]
        assert path_col is not None
        text = f'trim(CAST("{path_col}" AS VARCHAR))'
        _check_paths(con, staged.path, text, exprs)
        arrow = con.sql(
            f"SELECT {text} AS path, {exprs['total_conversions']} AS c, "
            f"{exprs['total_conversion_value']} AS v, {exprs['total_null']} AS n FROM _paths ORDER BY _row"
        ).to_arrow_table()
    finally:
        con.close()
    return path_table_from_strings(
        arrow["path"],
        arrow["c"].to_numpy(),
        arrow["v"].to_numpy(),
        arrow["n"].to_numpy(),
    )


def _check_paths(con: object, file: Path, text: str, exprs: dict[str, str]) -> None:
    import duckdb

    assert isinstance(con, duckdb.DuckDBPyConnection)
    checks = [
        (
            f"{text} IS NULL OR {text} = '' OR regexp_matches({text}, '(^>|>\\s*>|>$)')",
            "have a blank path or an empty step ('a > > b')",
            text,
        ),
        (
            " OR ".join(f"{e} < 0" for e in exprs.values()),
            "have a negative count or value",
            "concat_ws(', ', " + ", ".join(f"CAST({e} AS VARCHAR)" for e in exprs.values()) + ")",
        ),
    ]
    for condition, says, shown in checks:
        rows = con.execute(
            f"SELECT _row, {shown} FROM _paths WHERE {condition} ORDER BY _row LIMIT 5"
        ).fetchall()
        if rows:
            count = con.execute(f"SELECT count(*) FROM _paths WHERE {condition}").fetchone()
            listed = ", ".join(f"row {r}: {v!r}" for r, v in rows)
            raise DataValidationError(
                f"file {file}: {count[0] if count else len(rows)} row(s) {says} ({listed}); "
                "fix or drop those rows"
            )
