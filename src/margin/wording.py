"""Words for a return interval: one place that says what an ROI or marginal ROI means.

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

from typing import Literal

from margin.types import Interval

__all__ = ["WIDE", "BreakEven", "break_even", "marginal_words", "return_words"]

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
