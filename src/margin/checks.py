"""Checks shared by every package that reads a user's table (a core module).

A plan table (:mod:`margin.optimize.scenario`) and a table of known controls
(:mod:`margin.mmm.response`) both refuse names the model does not know, with the same
message; the check lives here so neither package imports the other.

This module imports nothing of margin but :mod:`margin.errors`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from margin.errors import DataValidationError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["check_known"]


def check_known(
    frame: pd.DataFrame,
    column: str,
    allowed: Iterable[str],
    *,
    table: str,
    what: str | None = None,
) -> None:
    """Refuse a table whose ``column`` names values outside ``allowed`` (channels, geos),
    listing the unknown ones and the known ones (``what`` names them; default: ``column``).

    Raises:
        DataValidationError: e.g. "plan table names unknown channel(s) ['radio']; channels
            are [...]".
    """
    known, kind = list(allowed), what or column
    unknown = sorted(set(frame[column].astype(str)) - set(known))
    if unknown:
        raise DataValidationError(
            f"{table} names unknown {kind}(s) {unknown}; {kind}s are {known}."
        )
