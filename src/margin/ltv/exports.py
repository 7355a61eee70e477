"""Customer values back to the ad platforms, as files (nothing is sent over the network).

Input: a frame of customers, one row each: ``customer_key`` (margin's keyed hash),
``acquired_at`` (the acquisition event's time, UTC), ``predicted_value`` (the
customer's predicted value, in ``currency``), ``currency`` (a column or an argument),
optional ``campaign`` / ``acquisition_channel``, and optional identifiers attached with
:func:`attach_identifiers`.

- :func:`write_meta_events`: Meta Conversions API request bodies (``{"data": [...]}``,
  at most 1,000 events per file, Meta's per-request limit) with
  ``custom_data.predicted_ltv``. Meta's pLTV rules
  (https://developers.facebook.com/documentation/ads-commerce/conversions-api/guides/predicted-lifetime-value):
  the pLTV is sent within 7 days of the conversion (acquisition) event, so events older
  than 7 days before ``as_of`` (or after it) are skipped and counted; the predictions
  must hold at least :data:`META_MIN_DISTINCT` distinct values, all positive, the highest
  at least :data:`META_MIN_SPREAD` times the lowest, else the export is refused.
- :func:`write_google_conversions`: Google Ads offline conversion import CSVs: the click
  template (``Parameters:TimeZone=…``, then ``Google Click ID,Conversion Name,Conversion
  Time,Conversion Value,Conversion Currency``) for customers with a ``gclid``, and the
  enhanced-conversions-for-leads variant (``Email`` and ``Phone Number`` hashed) for the
  others.
- :func:`write_value_rules`: value multipliers per campaign for Google's value rules.

Identifiers. The workspace holds only margin's keyed hash of a customer id; it is sent as
Meta's ``external_id`` (SHA-256 of it, as Meta asks for hashed external ids; any id
consistent across events works). Emails and phone numbers, which the platforms match
on, are never stored by margin: :func:`attach_identifiers` reads them from a side file,
normalises each per the platform's rules and keeps only the SHA-256 hex digests, in
memory; the raw values are dropped before anything is written. Meta: email trimmed and
lower-cased; phone digits only with the country code, no leading zeros. Google: email
trimmed and lower-cased, dots before ``@gmail.com`` / ``@googlemail.com`` removed; phone
in E.164 (``+`` and digits).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from margin.errors import ConfigError, DataValidationError, InputFileError

if TYPE_CHECKING:
    import pandas as pd

    from margin.data.workspace.hashing import HashKey

__all__ = [
    "GOOGLE_CLICK_COLUMNS",
    "GOOGLE_LEAD_COLUMNS",
    "META_MAX_AGE",
    "META_MIN_DISTINCT",
    "META_MIN_SPREAD",
    "GoogleExport",
    "MetaExport",
    "attach_identifiers",
    "google_email",
    "google_phone",
    "meta_email",
    "meta_phone",
    "sha256_hex",
    "write_google_conversions",
    "write_meta_events",
    "write_value_rules",
]

META_MAX_AGE = timedelta(days=7)
"""Meta: the pLTV is sent within 7 days of the conversion event."""
META_MIN_DISTINCT = 5
"""Meta: at least 5 distinct pLTV values."""
META_MIN_SPREAD = 3.0
"""Meta: the highest pLTV at least 3 times the lowest."""
META_BATCH = 1000
"""Meta: at most 1,000 events per Conversions API request."""
GOOGLE_CLICK_COLUMNS = (
    "Google Click ID",
    "Conversion Name",
    "Conversion Time",
    "Conversion Value",
    "Conversion Currency",
)
GOOGLE_LEAD_COLUMNS = (
    "Email",
    "Phone Number",
    "Conversion Name",
    "Conversion Time",
    "Conversion Value",
    "Conversion Currency",
)
ACTION_SOURCES = (
    "website",
    "email",
    "app",
    "phone_call",
    "chat",
    "physical_store",
    "system_generated",
    "business_messaging",
    "other",
)
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_OFFSET = re.compile(r"^[+-]\d{4}$")
_HASH_COLUMNS = ("em_meta", "ph_meta", "em_google", "ph_google")


# -- normalisation and hashing -----------------------------------------------------------
def sha256_hex(text: str) -> str:
    """SHA-256 of the UTF-8 text, as 64 lowercase hex characters."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _email(text: str) -> str | None:
    value = text.strip().lower()
    local, at, domain = value.partition("@")
    return value if at and local and "." in domain and " " not in value else None


def meta_email(text: str) -> str | None:
    """Meta's normalised email (trimmed, lower case), or None when it is not an email."""
    return _email(text)


def google_email(text: str) -> str | None:
    """Google's normalised email: as Meta's, and dots before ``@gmail.com`` removed."""
    value = _email(text)
    if value is None:
        return None
    local, _, domain = value.partition("@")
    if domain in ("gmail.com", "googlemail.com"):
        local = local.replace(".", "")
    return f"{local}@{domain}"


def meta_phone(text: str) -> str | None:
    """Meta's normalised phone: digits only, country code first, no leading zeros."""
    digits = re.sub(r"\D", "", text).lstrip("0")
    return digits if 7 <= len(digits) <= 15 else None


def google_phone(text: str) -> str | None:
    """Google's normalised phone: E.164, ``+`` then the country code and number."""
    digits = meta_phone(text)
    return None if digits is None else f"+{digits}"


def _hashed(values: Any, normalise: Any) -> list[str | None]:
    out: list[str | None] = []
    for value in values:
        blank = value is None or (isinstance(value, float) and math.isnan(value))
        norm = None if blank else normalise(str(value))
        out.append(None if norm is None else sha256_hex(norm))
    return out


def attach_identifiers(
    customers: pd.DataFrame, path: str | os.PathLike[str], ids: HashKey | None = None
) -> pd.DataFrame:
    """``customers`` with the hashed identifiers of a side file (CSV) joined on.

    The side file has ``customer_id`` (raw, hashed with ``ids``) or ``customer_key``, and
    any of ``email``, ``phone``, ``gclid``. Emails and phones are normalised and hashed
    here (columns ``em_meta``, ``ph_meta``, ``em_google``, ``ph_google``); the raw values
    are not kept.

    Raises:
        InputFileError: the file is missing or has no id column.
    """
    import pandas as pd

    file = Path(path)
    if not file.is_file():
        raise InputFileError(f"identifiers file {file} does not exist; check the path")
    side = pd.read_csv(file, dtype=str, keep_default_na=False).replace("", None)
    if "customer_key" in side:
        keys = side["customer_key"]
    elif "customer_id" in side and ids is not None:
        keys = side["customer_id"].map(lambda v: None if v is None else ids.hash(str(v).strip()))
    else:
        raise InputFileError(
            f"identifiers file {file}: needs customer_key, or customer_id and the workspace's "
            f"key to hash it with; it has {list(side.columns)}"
        )
    out = pd.DataFrame({"customer_key": keys})
    raw = {name: side[name] if name in side else [None] * len(side) for name in ("email", "phone")}
    out["em_meta"] = _hashed(raw["email"], meta_email)
    out["em_google"] = _hashed(raw["email"], google_email)
    out["ph_meta"] = _hashed(raw["phone"], meta_phone)
    out["ph_google"] = _hashed(raw["phone"], google_phone)
    if "gclid" in side:
        out["gclid"] = side["gclid"].str.strip()
    del side, raw
    out = out.dropna(subset=["customer_key"]).drop_duplicates("customer_key", keep="first")
    base = customers.drop(columns=[c for c in out.columns if c != "customer_key"], errors="ignore")
    return base.merge(out, on="customer_key", how="left")


# -- input checks ------------------------------------------------------------------------
def _rows(mask: Any) -> str:
    rows = [int(i) + 1 for i in np.flatnonzero(np.asarray(mask))[:5]]
    more = int(np.asarray(mask).sum()) - len(rows)
    return ", ".join(map(str, rows)) + (f" and {more} more" if more > 0 else "")


def _prepared(customers: pd.DataFrame, currency: str | None) -> pd.DataFrame:
    """The frame checked: required columns, times, values, currency; raises naming rows."""
    import pandas as pd

    missing = [c for c in ("customer_key", "acquired_at", "predicted_value") if c not in customers]
    if currency is None and "currency" not in customers:
        missing.append("currency (or pass currency=)")
    if missing:
        raise DataValidationError(
            f"customers for export: missing column(s) {missing}; it has {list(customers.columns)}"
        )
    frame = customers.reset_index(drop=True).copy()
    if currency is not None:
        frame["currency"] = currency
    frame["currency"] = frame["currency"].astype(str).str.strip().str.upper()
    times = pd.to_datetime(frame["acquired_at"], errors="coerce", utc=True)
    values = pd.to_numeric(frame["predicted_value"], errors="coerce").astype(float)
    checks = [
        (frame["customer_key"].isna(), "have no customer_key"),
        (
            frame["customer_key"].duplicated(),
            "repeat a customer_key (one acquisition per customer)",
        ),
        (times.isna(), "have an acquired_at that is missing or not a time"),
        (~np.isfinite(values), "have a predicted_value that is missing or not a number"),
        (values < 0, "have a negative predicted_value"),
        (~frame["currency"].str.match(_CURRENCY), "have a currency that is not an ISO 4217 code"),
    ]
    problems = [f"row(s) {_rows(mask)} {says}" for mask, says in checks if np.asarray(mask).any()]
    if problems:
        raise DataValidationError(
            "customers for export: " + "; ".join(problems) + ". Fix those rows and export again"
        )
    frame["acquired_at"] = times
    frame["predicted_value"] = values
    return frame


def _as_utc(moment: datetime | str, name: str) -> datetime:
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment.strip())
        except ValueError as err:
            raise ConfigError(f"{name} {moment!r} is not a time; use ISO 8601") from err
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- Meta --------------------------------------------------------------------------------
@dataclass(frozen=True)
class MetaExport:
    """What :func:`write_meta_events` wrote.

    Attributes:
        paths: the request files (1,000 events each at most).
        events: events written; skipped_old: acquisitions more than 7 days before
            ``as_of``; skipped_future: acquisitions after ``as_of``.
        distinct_values: distinct predicted values among the events written.
        currency: the values' currency.
    """

    paths: tuple[Path, ...]
    events: int
    skipped_old: int
    skipped_future: int
    distinct_values: int
    currency: str


def _meta_value_rule(values: Any) -> None:
    """Refuse predictions Meta cannot optimise on (its pLTV requirements)."""
    positive = values[values > 0]
    distinct = np.unique(np.round(positive, 2))
    rule = (
        f"Meta's pLTV value optimisation needs at least {META_MIN_DISTINCT} distinct positive "
        f"values, all positive, the highest at least {META_MIN_SPREAD:g}x the lowest"
    )
    if positive.size < values.size:
        raise DataValidationError(
            f"{values.size - positive.size} of {values.size} predicted values are 0; {rule}. "
            "Leave those customers out or check the model"
        )
    if distinct.size < META_MIN_DISTINCT:
        raise DataValidationError(
            f"the predicted values hold {distinct.size} distinct value(s) (to the cent); {rule}. "
            "Export predictions per customer, not per segment"
        )
    if distinct[-1] < META_MIN_SPREAD * distinct[0]:
        raise DataValidationError(
            f"the highest predicted value ({distinct[-1]:.2f}) is less than {META_MIN_SPREAD:g}x "
            f"the lowest ({distinct[0]:.2f}); {rule}"
        )


def _meta_event(row: Any, event_name: str, action_source: str) -> dict[str, Any]:
    user: dict[str, list[str]] = {"external_id": [sha256_hex(str(row.customer_key))]}
    for field, column in (("em", "em_meta"), ("ph", "ph_meta")):
        value = getattr(row, column, None)
        if isinstance(value, str):
            user[field] = [value]
    value = round(float(row.predicted_value), 2)
    return {
        "event_name": event_name,
        "event_time": int(row.acquired_at.timestamp()),
        "action_source": action_source,
        "event_id": f"margin-pltv-{row.customer_key}",
        "user_data": user,
        "custom_data": {"currency": row.currency, "value": value, "predicted_ltv": value},
    }


def write_meta_events(
    customers: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    as_of: datetime | str,
    currency: str | None = None,
    event_name: str = "Purchase",
    action_source: str = "website",
) -> MetaExport:
    """Write Meta Conversions API request bodies with each customer's predicted value.

    Args:
        customers: see the module docstring.
        path: the JSON file; beyond 1,000 events, ``<stem>-0002<suffix>`` and so on too.
        as_of: when the events will be sent: acquisitions older than 7 days before it,
            or after it, are skipped and counted.
        currency: the values' ISO 4217 code, where ``customers`` has no currency column.
        event_name: the conversion event the pLTV belongs to.
        action_source: where it happened (Meta's values; pLTV supports web events).

    Raises:
        DataValidationError: bad rows (named), no event within 7 days, or predictions
            that break Meta's pLTV value rules. Nothing is written then.
        ConfigError: a bad ``as_of``, ``event_name`` or ``action_source``.
    """
    if action_source not in ACTION_SOURCES:
        raise ConfigError(
            f"action_source {action_source!r} is not Meta's; use one of {ACTION_SOURCES}"
        )
    if not event_name.strip():
        raise ConfigError("event_name is empty; use e.g. Purchase")
    now = _as_utc(as_of, "as_of")
    frame = _prepared(customers, currency)
    old = frame["acquired_at"] < now - META_MAX_AGE
    future = frame["acquired_at"] > now
    kept = frame[~old & ~future]
    if kept.empty:
        raise DataValidationError(
            f"no acquisition lies within the 7 days before {now:%Y-%m-%d %H:%M} UTC ({int(old.sum())} "
            f"older, {int(future.sum())} later); Meta takes pLTV only within 7 days of the "
            "acquisition event: export more often, or set as_of to when you will upload"
        )
    _meta_value_rule(kept["predicted_value"].to_numpy())
    events = [_meta_event(row, event_name.strip(), action_source) for row in kept.itertuples()]
    paths = _write_batches(Path(path), events)
    return MetaExport(
        tuple(paths),
        len(events),
        int(old.sum()),
        int(future.sum()),
        int(np.unique(np.round(kept["predicted_value"].to_numpy(), 2)).size),
        ",".join(sorted(set(kept["currency"]))),
    )


def _write_batches(target: Path, events: list[dict[str, Any]]) -> list[Path]:
    """Write ``{"data": events}`` in requests of at most :data:`META_BATCH` events."""
    paths = []
    for start in range(0, len(events), META_BATCH):
        part = start // META_BATCH
        name = f"{target.stem}-{part + 1:04d}{target.suffix}"
        file = target if part == 0 else target.with_name(name)
        _write_text(file, json.dumps({"data": events[start : start + META_BATCH]}, indent=1))
        paths.append(file)
    return paths


def _write_text(path: Path, text: str) -> None:
    """Write ``text`` atomically (a temporary file renamed), so a failure leaves nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8", newline="")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


# -- Google ------------------------------------------------------------------------------
@dataclass(frozen=True)
class GoogleExport:
    """What :func:`write_google_conversions` wrote.

    Attributes:
        clicks_path: the click-ID import file (None when no customer has a ``gclid``).
        leads_path: the enhanced-conversions-for-leads file (None when none was due).
        clicks, leads: rows in each; skipped: customers with neither a click ID nor a
            hashed email or phone (Google could not match them).
    """

    clicks_path: Path | None
    leads_path: Path | None
    clicks: int
    leads: int
    skipped: int


def _zone(timezone: str) -> Any:
    """A tzinfo for ``timezone``: ``+HHMM``/``-HHMM`` or an IANA name (e.g. Europe/Paris)."""
    from datetime import timezone as fixed
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if _OFFSET.match(timezone):
        sign = 1 if timezone[0] == "+" else -1
        return fixed(sign * timedelta(hours=int(timezone[1:3]), minutes=int(timezone[3:5])))
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ConfigError(
            f"timezone {timezone!r} is not known; use an offset such as +0100 or a name such "
            "as America/New_York"
        ) from err


def _csv_text(timezone: str, header: tuple[str, ...], rows: list[list[str]]) -> str:
    import io

    buffer = io.StringIO()
    buffer.write(f"Parameters:TimeZone={timezone}\n")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def write_google_conversions(
    customers: pd.DataFrame,
    folder: str | os.PathLike[str],
    *,
    conversion_name: str,
    timezone: str = "+0000",
    currency: str | None = None,
) -> GoogleExport:
    """Write Google Ads offline conversion imports with each customer's predicted value.

    Customers with a ``gclid`` go to ``google_clicks.csv`` (Google's click template);
    the others with a hashed email or phone (:func:`attach_identifiers`) go to
    ``google_leads.csv`` (enhanced conversions for leads). Times are written in
    ``timezone``, which the first line declares.

    Raises:
        DataValidationError: bad rows (named), or no customer Google could match.
        ConfigError: an empty ``conversion_name`` or an unknown ``timezone``.
    """
    name = conversion_name.strip()
    if not name:
        raise ConfigError(
            "conversion_name is empty; use the conversion action's name in Google Ads"
        )
    zone = _zone(timezone)
    frame = _prepared(customers, currency)
    empty = [None] * len(frame)
    gclid, email, phone = (list(frame.get(c, empty)) for c in ("gclid", "em_google", "ph_google"))
    clicks: list[list[str]] = []
    leads: list[list[str]] = []
    stamps: list[datetime] = list(frame["acquired_at"].dt.to_pydatetime())
    values = frame["predicted_value"].to_numpy(np.float64)
    codes = [str(c) for c in frame["currency"]]
    for i, stamp in enumerate(stamps):
        when = stamp.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
        tail = [name, when, f"{values[i]:.2f}", codes[i]]
        click, em, ph = (_text_or_none(v[i]) for v in (gclid, email, phone))
        if click is not None:
            clicks.append([click, *tail])
        elif em is not None or ph is not None:
            leads.append([em or "", ph or "", *tail])
    if not clicks and not leads:
        raise DataValidationError(
            "customers for export: none has a Google click ID (gclid) or an email or phone to "
            "match on; attach them with an identifiers file (customer_id, email, phone, gclid)"
        )
    out = Path(folder)
    paths: list[Path | None] = []
    for file, header, rows in (
        (out / "google_clicks.csv", GOOGLE_CLICK_COLUMNS, clicks),
        (out / "google_leads.csv", GOOGLE_LEAD_COLUMNS, leads),
    ):
        if rows:
            _write_text(file, _csv_text(timezone, header, rows))
        paths.append(file if rows else None)
    return GoogleExport(
        paths[0], paths[1], len(clicks), len(leads), len(frame) - len(clicks) - len(leads)
    )


def _text_or_none(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def write_value_rules(
    customers: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    currency: str | None = None,
) -> pd.DataFrame:
    """Write value multipliers per campaign (or acquisition channel) for value rules.

    A campaign's multiplier is its customers' mean predicted value over all customers'
    mean, with the 90% interval of its mean (normal approximation, ``± 1.645·sd/√n``)
    and the count behind it. Columns: ``campaign``, ``customers``,
    ``mean_predicted_value``, ``currency``, ``multiplier``, ``multiplier_p05``,
    ``multiplier_p95``; campaigns without a name are ``(none)``.

    Raises:
        DataValidationError: bad rows, several currencies, no campaign column, or all
            predicted values 0.
    """
    frame = _prepared(customers, currency)
    by = next((c for c in ("campaign", "acquisition_channel") if c in frame), None)
    if by is None:
        raise DataValidationError(
            "customers for export: value rules need a campaign (or acquisition_channel) column"
        )
    currencies = sorted(set(frame["currency"]))
    if len(currencies) > 1:
        raise DataValidationError(
            f"customers for export: predicted values are in several currencies {currencies}; "
            "convert them to one before computing multipliers"
        )
    overall = float(frame["predicted_value"].mean())
    if overall <= 0:
        raise DataValidationError("customers for export: every predicted value is 0")
    groups = frame.assign(campaign=frame[by].fillna("(none)").astype(str)).groupby("campaign")
    table = groups["predicted_value"].agg(["count", "mean", "std"]).reset_index()
    half = 1.645 * table["std"].fillna(0.0) / np.sqrt(table["count"])
    table = table.assign(
        customers=table["count"].astype(int),
        mean_predicted_value=table["mean"].round(2),
        currency=currencies[0],
        multiplier=(table["mean"] / overall).round(4),
        multiplier_p05=((table["mean"] - half).clip(lower=0) / overall).round(4),
        multiplier_p95=((table["mean"] + half) / overall).round(4),
    )[
        [
            "campaign",
            "customers",
            "mean_predicted_value",
            "currency",
            "multiplier",
            "multiplier_p05",
            "multiplier_p95",
        ]
    ]
    _write_text(Path(path), table.to_csv(index=False, lineterminator="\n"))
    return table
