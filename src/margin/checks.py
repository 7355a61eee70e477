"""Checks shared by every package that reads a user's table or names (a core module).

A plan table (:mod:`margin.optimize.scenario`) and a table of known controls
(:mod:`margin.mmm.response`) both refuse names the model does not know, with the same
message; the check lives here so neither package imports the other.

Every name a person gives for a channel (a spec's ``[priors.roi]`` keys, ``--bounds``,
``--lock``, ``--test-se``, a scenario's ``--change``, the API's fields) goes through
:func:`match_names`: the canonical name (the workspace's) is the one the model knows, and
a name that differs only in case is read as it, with a note on the ``margin.names`` logger
("channel 'Channel0' read as 'channel0'"; the CLI prints it).

This module imports nothing of margin but :mod:`margin.errors`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from margin.errors import ConfigError, DataValidationError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["NAMES_LOGGER", "check_known", "match_keys", "match_names"]

NAMES_LOGGER = "margin.names"
"""The logger whose INFO records say a name was read in another case."""


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


def match_names(
    given: Iterable[str], known: Iterable[str], what: str = "channel", *, where: str = ""
) -> list[str]:
    """The canonical name of each of ``given``: itself when ``known`` has it, else the one
    known name equal to it up to case (logged on :data:`NAMES_LOGGER`).

    Args:
        given: names a person wrote.
        known: the canonical names (e.g. the model's channels).
        what: what the names are, for messages.
        where: where they were given (``"--bounds"``), prefixed to messages.

    Raises:
        ConfigError: a name matching none (or several, by case) of ``known``; the message
            lists the known names.
    """
    names = list(known)
    folded: dict[str, list[str]] = {}
    for name in names:
        folded.setdefault(name.casefold(), []).append(name)
    prefix = f"{where}: " if where else ""
    out: list[str] = []
    unknown: list[str] = []
    for name in given:
        if name in names:
            out.append(name)
            continue
        hits = folded.get(str(name).casefold(), [])
        if len(hits) == 1:
            logging.getLogger(NAMES_LOGGER).info(
                "%s%s %r read as %r (names match case-insensitively)", prefix, what, name, hits[0]
            )
            out.append(hits[0])
        else:
            unknown.append(name)
    if unknown:
        raise ConfigError(f"{prefix}unknown {what}(s) {sorted(unknown)}; {what}s are {names}")
    return out


def match_keys[V](
    table: Mapping[str, V], known: Iterable[str], what: str = "channel", *, where: str = ""
) -> dict[str, V]:
    """``table`` with its keys made canonical by :func:`match_names`.

    Raises:
        ConfigError: as :func:`match_names`; two keys naming one name (``TV`` and ``tv``).
    """
    canonical = match_names(table, known, what, where=where)
    out: dict[str, V] = {}
    for name, (key, value) in zip(canonical, table.items(), strict=True):
        if name in out:
            prefix = f"{where}: " if where else ""
            raise ConfigError(f"{prefix}{what} {name!r} is given twice ({key!r}); give it once")
        out[name] = value
    return out
