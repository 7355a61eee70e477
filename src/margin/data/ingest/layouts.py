"""Spend-file layouts: ad-platform exports and the generic layout.

Each layout maps a file's headers to the canonical spend columns. :func:`spend_select`
turns a staged file into SQL that yields, per file row: ``_row, date, geo, channel,
campaign, currency, spend_original, impressions, clicks`` (``channel`` may be NULL:
the taxonomy fills it from the campaign name).

| layout | recognised by | spend | currency |
|---|---|---|---|
| google_ads | ``metrics.cost_micros``/``Cost (micros)`` or ``Day``+``Campaign``+``Cost`` | micros ÷ 10⁶, or ``Cost`` | ``customer.currency_code``/``Currency code`` |
| meta_ads | ``Amount spent (EUR)``, ``Reporting starts`` | ``Amount spent (…)`` / ``spend`` | from the header, or ``Currency`` |
| tiktok_ads | ``stat_time_day``, ``By Day``, ``Total cost`` | ``Cost``/``Total cost``/``spend`` | ``Currency`` |
| generic | ``date``, ``channel``, ``spend`` | ``spend`` | ``currency`` |
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from margin.data.ingest.readers import (
    StagedFile,
    parse_date_column,
    parse_number_column,
    quote_identifier,
    quote_literal,
)
from margin.data.workspace.schema import NATIONAL
from margin.errors import ConfigError, DataValidationError

if TYPE_CHECKING:
    import duckdb

__all__ = ["LAYOUTS", "Layout", "SpendSelect", "detect_layout", "spend_select"]


@dataclass(frozen=True)
class Layout:
    """Where a platform's export keeps each canonical column (accepted header names)."""

    name: str
    date: tuple[str, ...]
    campaign: tuple[str, ...]
    spend: tuple[str, ...]
    currency: tuple[str, ...] = ("currency",)
    impressions: tuple[str, ...] = ("impressions",)
    clicks: tuple[str, ...] = ("clicks",)
    geo: tuple[str, ...] = ("geo",)
    channel: tuple[str, ...] = ()
    micros: tuple[str, ...] = ()
    """Spend headers holding millionths of the currency unit."""


LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in (
        Layout(
            "google_ads",
            date=("segments.date", "day", "date"),
            campaign=("campaign.name", "campaign"),
            spend=("metrics.cost_micros", "cost (micros)", "cost_micros", "cost"),
            micros=("metrics.cost_micros", "cost (micros)", "cost_micros"),
            currency=("customer.currency_code", "currency code", "currency"),
            impressions=("metrics.impressions", "impr.", "impressions"),
            clicks=("metrics.clicks", "clicks"),
            geo=("geo", "region", "country/territory", "segments.geo_target_region"),
        ),
        Layout(
            "meta_ads",
            date=("day", "reporting starts", "date_start", "date"),
            campaign=("campaign name", "campaign_name", "campaign"),
            spend=("amount spent", "spend"),
            currency=("currency", "account currency", "account_currency"),
            impressions=("impressions",),
            clicks=("link clicks", "inline_link_clicks", "clicks (all)", "clicks"),
            geo=("region", "country", "geo"),
        ),
        Layout(
            "tiktok_ads",
            date=("stat_time_day", "by day", "date"),
            campaign=("campaign name", "campaign_name", "campaign"),
            spend=("total cost", "cost", "spend"),
            currency=("currency",),
            impressions=("impressions", "impression"),
            clicks=("clicks (destination)", "clicks", "click"),
            geo=("region", "province", "geo"),
        ),
        Layout(
            "generic",
            date=("date",),
            campaign=("campaign",),
            spend=("spend",),
            channel=("channel",),
        ),
    )
}

_AMOUNT_SPENT = re.compile(r"^amount spent\s*\(([A-Za-z]{3})\)$", re.IGNORECASE)


def _amount_spent_column(staged: StagedFile) -> tuple[str, str] | None:
    for column in staged.columns:
        match = _AMOUNT_SPENT.match(column.strip())
        if match:
            return column, match.group(1).upper()
    return None


def detect_layout(staged: StagedFile) -> str:
    """Which layout a spend file is in, from its headers."""
    has = staged.find
    if has(
        "metrics.cost_micros",
        "cost (micros)",
        "segments.date",
        "campaign.name",
        "customer.currency_code",
    ):
        return "google_ads"
    if _amount_spent_column(staged) or has("reporting starts", "amount spent"):
        return "meta_ads"
    if has("stat_time_day", "by day", "total cost"):
        return "tiktok_ads"
    if has("spend") and has("date"):
        return "generic"  # a missing channel column is reported by spend_select
    if has("day") and has("campaign") and has("cost") and has("impr.", "currency code"):
        return "google_ads"
    raise DataValidationError(
        f"file {staged.path}: cannot tell which spend layout it is in (headers: {list(staged.columns)}). "
        f"Pass --layout ({', '.join(LAYOUTS)}), or use the generic layout (date, channel, spend[, geo, "
        "campaign, impressions, clicks, currency]) with --map canonical=column for other names"
    )


@dataclass(frozen=True)
class SpendSelect:
    """SQL selecting canonical spend rows from the staged file."""

    sql: str
    layout: str


def _pick(
    staged: StagedFile, mapping: dict[str, str], canonical: str, names: tuple[str, ...]
) -> str | None:
    if canonical in mapping:
        source = mapping[canonical]
        hit = staged.find(source)
        if hit is None:
            raise ConfigError(
                f"--map {canonical}={source}: file {staged.path} has no column {source!r}; "
                f"it has {list(staged.columns)}"
            )
        return hit
    return staged.find(*names) if names else None


def spend_select(
    con: duckdb.DuckDBPyConnection,
    staged: StagedFile,
    *,
    layout: str = "auto",
    mapping: dict[str, str] | None = None,
    currency: str,
    date_format: str | None = None,
) -> SpendSelect:
    """Canonical spend rows of a staged file in ``layout``.

    Args:
        currency: the currency of rows that do not name one (the account's currency).
        mapping: canonical column → the file's header, overriding the layout's names.
    """
    mapping = mapping or {}
    name = detect_layout(staged) if layout == "auto" else layout
    if name not in LAYOUTS:
        raise ConfigError(
            f"--layout {layout!r} is not known; use auto or one of {', '.join(LAYOUTS)}"
        )
    spec = LAYOUTS[name]
    amount = _amount_spent_column(staged) if name == "meta_ads" and "spend" not in mapping else None
    spend_col = amount[0] if amount else _pick(staged, mapping, "spend", spec.spend)
    date_col = _pick(staged, mapping, "date", spec.date)
    missing = [c for c, v in (("date", date_col), ("spend", spend_col)) if v is None]
    channel_col = _pick(staged, mapping, "channel", spec.channel)
    campaign_col = _pick(staged, mapping, "campaign", spec.campaign)
    if name == "generic" and channel_col is None and campaign_col is None:
        missing.append("channel")
    if missing:
        raise DataValidationError(
            f"file {staged.path} (spend, layout {name}): missing required column(s) {missing}; it has "
            f"{list(staged.columns)}. Rename them or map them, e.g. --map {missing[0]}=YOUR_COLUMN"
        )
    if date_col is None or spend_col is None:  # pragma: no cover - raised just above
        raise AssertionError
    spend = parse_number_column(con, staged, spend_col)
    if staged.find(spend_col) and _pick(staged, {}, "spend", spec.micros) == spend_col:
        spend = f"({spend}) / 1e6"
    date = parse_date_column(con, staged, date_col, date_format)
    _check_reporting_span(con, staged, name, date)
    parts = {
        "date": date,
        "geo": _text(_pick(staged, mapping, "geo", spec.geo), quote_literal(NATIONAL)),
        "channel": _text(channel_col, "NULL"),
        "campaign": _text(campaign_col, "''"),
        "currency": _currency(staged, mapping, spec, amount, currency),
        "spend_original": spend,
        "impressions": _number(
            con, staged, _pick(staged, mapping, "impressions", spec.impressions)
        ),
        "clicks": _number(con, staged, _pick(staged, mapping, "clicks", spec.clicks)),
    }
    select = ", ".join(f"{expr} AS {col}" for col, expr in parts.items())
    return SpendSelect(f"SELECT _row, {select} FROM {staged.relation}", name)


def _text(column: str | None, default: str) -> str:
    if column is None:
        return f"CAST({default} AS VARCHAR)"
    col = f"trim(CAST({quote_identifier(column)} AS VARCHAR))"
    return f"COALESCE(NULLIF({col}, ''), {default})"


def _number(con: duckdb.DuckDBPyConnection, staged: StagedFile, column: str | None) -> str:
    return "CAST(NULL AS DOUBLE)" if column is None else parse_number_column(con, staged, column)


def _currency(
    staged: StagedFile,
    mapping: dict[str, str],
    spec: Layout,
    amount: tuple[str, str] | None,
    default: str,
) -> str:
    if amount is not None:
        return quote_literal(amount[1])
    column = _pick(staged, mapping, "currency", spec.currency)
    if column is None:
        return quote_literal(default)
    return f"upper({_text(column, quote_literal(default))})"


def _check_reporting_span(
    con: duckdb.DuckDBPyConnection, staged: StagedFile, layout: str, date: str
) -> None:
    """Meta exports without a time breakdown cover several days per row: refuse them."""
    if layout != "meta_ads":
        return
    end_col = staged.find("reporting ends", "date_stop")
    if end_col is None:
        return
    end = parse_date_column(con, staged, end_col)
    row = con.execute(
        f"SELECT _row, date_diff('day', {date}, {end}) FROM {staged.relation} "
        f"WHERE date_diff('day', {date}, {end}) NOT IN (0, 6) ORDER BY _row LIMIT 1"
    ).fetchone()
    if row is not None:
        raise DataValidationError(
            f"file {staged.path}, row {row[0]}: the row covers {int(row[1]) + 1} days (Reporting starts to "
            "Reporting ends); export from Ads Manager with the 'Day' (or 'Week') time breakdown"
        )
