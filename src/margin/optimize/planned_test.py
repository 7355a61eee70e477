"""A planned geo lift test as the model sees it: what each posterior draw says it would read.

``margin experiment design`` chooses a test (channel, treated geos, length, heavy-up
budget or go-dark) and gives the standard error of its ROI read (``roi_se`` in
``design.json``). A test does not read the channel's marginal return at current spend;
it reads the return of *its own* spend change, in its geos and weeks, carry-over
included. :func:`reads_per_draw` computes that per posterior draw from the model's own
counterfactual, with the channel's current spend going on during and after the test::

    read_d = kpi_value · Σ_{treated geos, test weeks + carry-over} (KPI_d(current + Δ) − KPI_d(current)) / ΣΔ

where ``Δ`` is the heavy-up budget spread over the treated geos in proportion to their
current spend on the channel (evenly where they spend nothing) and evenly over the test
weeks, or, for a go-dark (or holdout) test, minus the channel's current spend in the
treated geos over the test weeks. The value of that test to a plan (EVSI,
:mod:`margin.optimize.information`) groups the draws by ``read_d + roi_se · ε``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from margin.errors import ConfigError
from margin.protocols import ResponseModel
from margin.types import FloatArray

__all__ = ["KINDS", "PlannedTest", "check_planned_test", "read_design", "reads_per_draw"]

KINDS = ("heavy_up", "go_dark", "holdout")
"""Test kinds :func:`reads_per_draw` can place (as ``margin experiment design`` names them)."""
DAYS_PER_WEEK = 7


@dataclass(frozen=True)
class PlannedTest:
    """A geo test to value before running it.

    Attributes:
        channel: the tested channel.
        se: standard error of the test's ROI read (ROI units; ``roi_se`` of a design).
        geos: the treated geos.
        weeks: the test's length in weeks (a design's days rounded up to whole weeks).
        kind: ``heavy_up`` (``spend`` added), ``go_dark`` or ``holdout`` (the channel's
            spend switched off in ``geos``).
        spend: a heavy-up's added spend over the whole test (currency).
        design_id: the design it came from, if any.
    """

    channel: str
    se: float
    geos: tuple[str, ...]
    weeks: int
    kind: str = "heavy_up"
    spend: float | None = None
    design_id: str | None = None

    def __post_init__(self) -> None:
        where = f"test {self.design_id or self.channel}"
        if self.kind not in KINDS:
            raise ConfigError(f"{where}: kind {self.kind!r}; expected one of {list(KINDS)}")
        if not (isinstance(self.se, int | float) and math.isfinite(self.se) and self.se > 0):
            raise ConfigError(f"{where}: roi_se = {self.se!r}; expected a number > 0 (ROI units)")
        if not self.geos:
            raise ConfigError(f"{where}: no treatment geos; a geo test treats at least one")
        if isinstance(self.weeks, bool) or not isinstance(self.weeks, int) or self.weeks < 1:
            raise ConfigError(f"{where}: {self.weeks!r} weeks; expected a whole number >= 1")
        if self.kind == "heavy_up" and not (
            isinstance(self.spend, int | float) and math.isfinite(self.spend) and self.spend > 0
        ):
            raise ConfigError(
                f"{where}: a heavy-up needs its added spend > 0; got {self.spend!r}. Design it "
                "with --budget"
            )

    @classmethod
    def from_design(cls, design: Mapping[str, Any], source: str = "design") -> PlannedTest:
        """The test a ``design.json`` (``margin experiment design --out``) describes.

        Raises:
            ConfigError: a field is missing or has the wrong type, or the design has no
                standard error (designed without ``--budget``).
        """
        try:
            channel = str(design["channel"])
            kind = str(design["kind"])
            geos = tuple(str(g) for g in design["treatment_geos"])
            days = int(design["length_periods"]) * int(design["grain_days"])
            roi_se = design["roi_se"]
            budget = design.get("constraints", {}).get("budget")
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ConfigError(
                f"{source}: not a test design (missing or bad field {error}); write one with "
                "margin experiment design --out design.json"
            ) from None
        if roi_se is None:
            raise ConfigError(
                f"{source}: the design has no standard error of its ROI read (roi_se); design "
                "it with --budget (the test's spend) so it has one"
            )
        return cls(
            channel=channel, se=roi_se, geos=geos, weeks=max(1, math.ceil(days / DAYS_PER_WEEK)),
            kind=kind, spend=budget, design_id=design.get("design_id"),
        )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {
            "design_id": self.design_id, "channel": self.channel, "kind": self.kind,
            "geos": list(self.geos), "weeks": self.weeks, "spend": self.spend, "se": self.se,
        }  # fmt: skip


def read_design(path: str | Path) -> PlannedTest:
    """The :class:`PlannedTest` of a ``design.json`` file.

    Raises:
        ConfigError: the file is missing, not JSON, or not a design with a standard error.
    """
    file = Path(path)
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{file}: no such design file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(f"{file}: cannot read it as JSON ({error})") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{file}: expected a JSON object (a design.json)")
    return PlannedTest.from_design(document, source=str(file))


def check_planned_test(model: ResponseModel, test: PlannedTest) -> tuple[int, list[int]]:
    """The test's channel index and treated geos' indices in ``model``.

    Raises:
        ConfigError: an unknown channel or geo, or a model fitted on one series.
    """
    where = f"test {test.design_id or test.channel}"
    if test.channel not in model.channels:
        raise ConfigError(
            f"{where} is on channel {test.channel!r}, which the model does not have; its "
            f"channels are {list(model.channels)}"
        )
    if len(model.geos) == 1:
        raise ConfigError(
            f"{where} treats geos, but the model is fitted on one series ({model.geos[0]!r}); "
            "value a geo test with a geo-level run, or give --test-se instead"
        )
    unknown = sorted(set(test.geos) - set(model.geos))
    if unknown:
        raise ConfigError(
            f"{where} treats geo(s) {unknown} that the model does not have; its geos are "
            f"{list(model.geos)}"
        )
    return model.channels.index(test.channel), [model.geos.index(g) for g in test.geos]


def reads_per_draw(model: ResponseModel, current: FloatArray, test: PlannedTest) -> FloatArray:
    """``(n_draws,)`` the ROI ``test`` would read in each draw's world (module docstring).

    Args:
        model: the response model.
        current: the current plan ``(n_geos, n_weeks, n_channels)``; its average weekly
            spend goes on through the test and its carry-over.
        test: the planned test.

    Raises:
        ConfigError: an unknown channel or geo, a one-series model, or a go-dark test
            where the channel spends nothing.
    """
    c, treated = check_planned_test(model, test)
    weekly = current.mean(axis=1)  # (n_geos, n_channels)
    n_weeks = test.weeks + model.carryover_weeks
    base = np.repeat(weekly[:, None, :], n_weeks, axis=1)
    delta = np.zeros_like(base)
    if test.kind == "heavy_up":
        assert test.spend is not None  # checked in __post_init__
        share = weekly[treated, c]
        share = share / share.sum() if share.sum() > 0 else np.full(len(treated), 1 / len(treated))
        delta[treated, : test.weeks, c] = (test.spend * share / test.weeks)[:, None]
    else:
        delta[treated, : test.weeks, c] = -base[treated, : test.weeks, c]
    changed = float(delta.sum())
    if changed == 0:
        raise ConfigError(
            f"test {test.design_id or test.channel}: {test.channel} spends nothing in "
            f"{list(test.geos)} in the current plan, so switching it off reads nothing"
        )
    lift = (model.media_kpi(base + delta) - model.media_kpi(base)).sum(axis=(1, 2))
    reads: FloatArray = model.kpi_value * lift / changed
    return reads
