"""Words for a return interval and units for amounts: one place that says what an ROI or
marginal ROI means, and how money, KPI amounts and times are written (end of the module).

Every sentence margin writes about whether spend pays (the report's verdicts, the plan's
explanations and headline, the dashboard) classifies the interval here, so the words
follow the numbers: the mean and the 90% interval ``[p05, p95]`` against break-even (1).

- ``p05 > 1``: ``"above"``, "worth spending more";
- ``p95 < 1``: ``"below"``, "spending less loses little";
- spanning 1, ``p05 < 1/2`` and ``p95 > 2``: ``"uncertain"``, "too uncertain to say: test it";
- spanning 1, mean >= 1: ``"probably_above"``, "probably above break-even (could be below)";
- spanning 1, mean < 1: ``"probably_below"``, "probably below break-even (could be above)".

These are the words of a marginal ROI (:func:`marginal_words`); :func:`return_words`
words an average ROI ("paid back", ...) by the same classes.

"Too uncertain" is an interval that reaches from under half of break-even to over double
it (:data:`WIDE`): the data cannot tell a channel that loses half its money from one that
doubles it, so only a test can. So ``0.53 [0.10, 1.24]`` is "probably below break-even
(could be above)" and ``1.63 [0.13, 5.55]`` is "too uncertain to say: test it".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

from margin.types import Interval

__all__ = [
    "SYMBOLS",
    "WIDE",
    "BreakEven",
    "abbreviate",
    "break_even",
    "currency_symbol",
    "gain_words",
    "kpi_amount",
    "kpi_span",
    "kpi_unit",
    "marginal_words",
    "minute",
    "money",
    "per_money",
    "return_words",
    "span",
]

WIDE = 2.0
"""An interval spanning 1 is too uncertain to word when it reaches below ``1 / WIDE`` and
above ``WIDE`` (from half to double break-even)."""

BreakEven = Literal["above", "below", "uncertain", "probably_above", "probably_below"]
"""Where an ROI interval sits against break-even (module docstring)."""

_MARGINAL: dict[str, str] = {
    "above": "worth spending more",
    "below": "spending less loses little",
    "uncertain": "too uncertain to say: test it",
    "probably_above": "probably above break-even (could be below)",
    "probably_below": "probably below break-even (could be above)",
}

_RETURN: dict[str, str] = {
    "above": "paid back",
    "below": "did not pay back",
    "uncertain": "may or may not have paid back (too uncertain to say: test it)",
    "probably_above": "probably paid back (could have fallen short)",
    "probably_below": "probably did not pay back (could have)",
}


def break_even(roi: Interval) -> BreakEven:
    """Where ``roi`` (mean and 90% interval, currency per currency) sits against 1."""
    if roi.p05 > 1:
        return "above"
    if roi.p95 < 1:
        return "below"
    if roi.p05 < 1 / WIDE and roi.p95 > WIDE:
        return "uncertain"
    return "probably_above" if roi.mean >= 1 else "probably_below"


def marginal_words(mroi: Interval) -> str:
    """What a marginal ROI (the next unit of spend's return) says, e.g. "worth spending more"."""
    return _MARGINAL[break_even(mroi)]


def return_words(roi: Interval) -> str:
    """What an average ROI (the spend so far) says, e.g. "paid back"."""
    return _RETURN[break_even(roi)]


# ------------------------------------------------------------------ units and amounts
#
# One rule for every number margin shows (CLI, report; the dashboard's margin-charts.js
# `format` mirrors it): amounts abbreviate at a thousand, a million and a billion with two
# decimals ("344.38k", "17.22M"), smaller ones keep two decimals with separators; money
# carries the currency (symbol where one is common, else the ISO code); KPI amounts carry
# the KPI's unit (the currency for a revenue KPI, "conversions" for a conversion KPI).

SYMBOLS: dict[str, str] = {
    "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "CNY": "¥",
}  # fmt: skip
"""Currency symbols shown before an amount; other ISO codes are shown as ``"CHF 12.50"``."""


def currency_symbol(currency: str | None) -> str:
    """The prefix money in ``currency`` carries: ``"$"``, ``"CHF "``, or ``""`` when unknown."""
    if not currency:
        return ""
    return SYMBOLS.get(currency, f"{currency} ")


def abbreviate(value: float) -> str:
    """``value`` for people: ``"17.22M"``, ``"-344.38k"``, ``"12.50"``; ``"–"`` if not finite."""
    if not math.isfinite(value):
        return "–"
    size = abs(value)
    sign = "-" if value < 0 else ""
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if size >= limit:
            return f"{sign}{size / limit:.2f}{suffix}"
    return f"{sign}{size:,.2f}"


def money(value: float, currency: str | None) -> str:
    """An amount of money: ``"$344.38k"``, ``"-€1.20M"``, ``"CHF 12.50"``."""
    text = abbreviate(value)
    if text == "–":
        return text
    sign = "-" if text.startswith("-") else ""
    return f"{sign}{currency_symbol(currency)}{text.removeprefix('-')}"


def kpi_unit(kpi_type: str, kpi_name: str | None = None) -> str:
    """The unit of a KPI amount: ``"conversions"`` (or the KPI's name) for a conversion
    KPI, ``""`` for revenue (money: its amounts carry the currency instead)."""
    if kpi_type == "conversions":
        return "conversions" if not kpi_name or kpi_name == "conversions" else kpi_name
    return ""


def kpi_amount(
    value: float, kpi_type: str, currency: str | None, kpi_name: str | None = None
) -> str:
    """A KPI amount with its unit: ``"$344.38k"`` (revenue) or ``"17.22M conversions"``."""
    unit = kpi_unit(kpi_type, kpi_name)
    return f"{abbreviate(value)} {unit}" if unit else money(value, currency)


def span(stat: Interval, show: Callable[[float], str]) -> str:
    """``"mean [p05, p95]"`` of an interval, each shown by ``show``."""
    return f"{show(stat.mean)} [{show(stat.p05)}, {show(stat.p95)}]"


def kpi_span(
    stat: Interval, kpi_type: str, currency: str | None, kpi_name: str | None = None
) -> str:
    """A KPI interval with its unit once: ``"17.22M [9.10M, 25.01M] conversions"`` or
    ``"$212.49k [-$289.04k, $948.52k]"``."""
    unit = kpi_unit(kpi_type, kpi_name)
    if unit:
        return f"{span(stat, abbreviate)} {unit}"
    return span(stat, lambda x: money(x, currency))


def gain_words(
    gain: Interval,
    kpi_type: str,
    currency: str | None,
    kpi_value: float = 1.0,
    kpi_name: str | None = None,
) -> str:
    """A plan's expected gain (KPI over the horizon, plan − current) in its unit, with its
    worth in money for a conversion KPI: ``"17.22M [9.10M, 25.01M] conversions (worth
    $344.38k [$182.00k, $500.20k] at $0.02 a conversion)"``; ``"$212.49k [..]"`` for revenue.
    The CLI, the report and the dashboard all say it this way."""
    text = kpi_span(gain, kpi_type, currency, kpi_name)
    if not kpi_unit(kpi_type, kpi_name) or kpi_value <= 0:
        return text
    worth = span(gain.scaled(kpi_value), lambda x: money(x, currency))
    return f"{text} (worth {worth} at {money(kpi_value, currency)} a conversion)"


def per_money(currency: str | None) -> str:
    """The unit of an ROI: ``"$ per $"``, ``"€ per €"``, ``"CHF per CHF"``; ``"×"`` unknown."""
    symbol = currency_symbol(currency).strip()
    return f"{symbol} per {symbol}" if symbol else "×"


def minute(stamp: object) -> str:
    """A timestamp to the minute, in UTC: ``"2026-12-07 16:14 UTC"`` (ISO text or datetime;
    naive values are UTC, as margin stores them); other text unchanged."""
    from datetime import UTC, datetime

    if isinstance(stamp, datetime):
        moment = stamp
    else:
        try:
            moment = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
        except ValueError:
            return str(stamp)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")
