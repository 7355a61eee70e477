"""One wording of a return interval (margin.wording), used by the report and the plan."""

from __future__ import annotations

import pytest

from margin.types import Interval
from margin.wording import break_even, marginal_words, return_words

TABLE = [
    # (mean, p05, p95) → the words of a marginal ROI
    ((2.0, 1.2, 3.1), "above", "worth spending more"),
    ((0.4, 0.2, 0.8), "below", "spending less loses little"),
    ((0.53, 0.10, 1.24), "probably_below", "probably below break-even (could be above)"),
    ((1.63, 0.13, 5.55), "uncertain", "too uncertain to say: test it"),
    ((1.3, 0.7, 1.9), "probably_above", "probably above break-even (could be below)"),
    ((0.9, 0.45, 1.6), "probably_below", "probably below break-even (could be above)"),
    ((1.0, 0.6, 1.5), "probably_above", "probably above break-even (could be below)"),
    ((0.8, 0.3, 2.5), "uncertain", "too uncertain to say: test it"),
    ((1.1, 0.5, 2.0), "probably_above", "probably above break-even (could be below)"),
]


@pytest.mark.parametrize(("stat", "kind", "words"), TABLE)
def test_the_words_follow_the_mean_and_the_interval(
    stat: tuple[float, float, float], kind: str, words: str
) -> None:
    mroi = Interval(*stat)
    assert break_even(mroi) == kind
    assert marginal_words(mroi) == words


def test_the_two_intervals_once_both_called_break_even_now_read_apart() -> None:
    low = marginal_words(Interval(0.53, 0.10, 1.24))
    wide = marginal_words(Interval(1.63, 0.13, 5.55))
    assert low != wide
    assert "break-even at the margin" not in low + wide


def test_average_roi_words_use_the_same_classes() -> None:
    assert return_words(Interval(2.0, 1.2, 3.1)) == "paid back"
    assert return_words(Interval(0.4, 0.2, 0.8)) == "did not pay back"
    assert return_words(Interval(1.3, 0.7, 1.9)).startswith("probably paid back")
    assert return_words(Interval(0.7, 0.6, 1.1)).startswith("probably did not pay back")
    assert "test it" in return_words(Interval(1.63, 0.13, 5.55))


def test_the_report_and_the_plan_word_intervals_with_margin_wording() -> None:
    from margin.report.views import channel_rows

    summary = {
        "channels_order": ["tv", "search"],
        "channels": {
            name: {
                "spend": 100.0,
                "roi": roi,
                "mroi": mroi,
                "contribution": roi,
                "contribution_share": roi,
                "media_share": roi,
            }
            for name, roi, mroi in (
                (
                    "tv",
                    {"mean": 1.5, "p05": 0.8, "p95": 2.1},
                    {"mean": 0.53, "p05": 0.10, "p95": 1.24},
                ),
                (
                    "search",
                    {"mean": 3.0, "p05": 2.0, "p95": 4.0},
                    {"mean": 1.63, "p05": 0.13, "p95": 5.55},
                ),
            )
        },
    }
    rows = {r["channel"]: r for r in channel_rows(summary, "$")}
    assert rows["tv"]["marginal_verdict"].endswith(": probably below break-even (could be above).")
    assert rows["search"]["marginal_verdict"].endswith(": too uncertain to say: test it.")
    assert rows["tv"]["verdict"].startswith("tv probably paid back (could have fallen short)")
    assert rows["search"]["verdict"].startswith("search paid back")
