"""What every aggregation over a raw log shares before it runs: its rows checked against
declarative rules in one pass, and the engine it runs on opened (or borrowed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from margin.errors import DataValidationError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from margin.engines.base import Engine

__all__ = ["SHOWN", "Rule", "check_rules", "numbered", "resolve_engine"]

SHOWN = 5
"""Rows of each broken rule an error names."""

Rule = tuple[str, str, str, str]
"""``(condition, shown, says, fix)``: a SQL condition true on broken rows, the SQL of the
value shown for each, what such rows are ("have no user id"), and how to fix them."""


def check_rules(engine: Engine, view: str, rules: Sequence[Rule], where: str) -> None:
    """Raise one :class:`DataValidationError` naming every broken rule of ``view`` with its
    count and first rows (``_row``: the 1-based row in the file, or NULL); ``where``
    names the input, e.g. ``"file orders.csv (transactions)"``."""
    sums = ", ".join(
        f"SUM(CASE WHEN {c} THEN 1 ELSE 0 END) AS r{i}" for i, (c, *_) in enumerate(rules)
    )
    counts = engine.query(f"SELECT {sums} FROM {view}").to_pylist()[0]
    problems: list[str] = []
    for i, (condition, shown, says, fix) in enumerate(rules):
        n = int(counts[f"r{i}"] or 0)
        if not n:
            continue
        rows = engine.query(
            f"SELECT _row, {shown} AS v FROM {view} WHERE {condition} ORDER BY _row LIMIT {SHOWN}"
        ).to_pylist()
        listed = ", ".join(
            (f"row {r['_row']}" if r["_row"] is not None else "a row")
            + ("" if r["v"] is None else f": {r['v']!r}")
            for r in rows
        )
        more = f" and {n - len(rows)} more" if n > len(rows) else ""
        problems.append(f"{n} row(s) {says} ({listed}{more}); {fix}")
    if problems:
        raise DataValidationError(f"{where}: " + ". ".join(problems))


def resolve_engine(engine: Engine | str, options: dict[str, Any]) -> tuple[Engine, bool]:
    """``(engine, owned)``: a name opens one (the caller closes it), an engine is borrowed."""
    if isinstance(engine, str):
        from margin.engines.base import open_engine

        return open_engine(engine, **options), True
    return engine, False


def numbered(table: pa.Table | pd.DataFrame) -> pa.Table:
    """``table`` as Arrow with ``_row``, the 1-based row number the rules' errors name."""
    import pyarrow as pa

    arrow = (
        table if isinstance(table, pa.Table) else pa.Table.from_pandas(table, preserve_index=False)
    )
    return arrow.append_column("_row", pa.array(np.arange(1, arrow.num_rows + 1, dtype=np.int64)))
