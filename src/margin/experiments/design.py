"""Design a geo test: which geos to treat, for how long, how much spend, and its power.

Candidate treated sets (random draws that respect the constraints, plus the set of geos
best matched to the rest) are scored by a power simulation on the panel's own history
(:func:`margin.experiments.power.simulate_power`) for every allowed test length; the
estimator is the synthetic control (or TBR) that will analyse the test. The best design
is, among candidates whose false-positive rate on the history is compatible with the
level (its Wilson lower bound not above ``1 - level``), the shortest one that reaches the
target power at the budget (when a budget and an ROI assumption are given), otherwise
the one with the smallest minimum detectable lift.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import timedelta
from statistics import NormalDist
from typing import Any

import numpy as np

from margin.errors import ConfigError, DataValidationError
from margin.experiments.analysis import INFERENCES, METHODS, MIN_PLACEBO_T_WINDOWS
from margin.experiments.inference import min_placebo_windows
from margin.experiments.matching import correlation_matrix, dtw_distances, matches_for
from margin.experiments.panel import GeoPanel
from margin.experiments.power import PowerResult, simulate_power, wilson_interval

__all__ = ["KINDS", "Design", "DesignSpec", "design_test"]

KINDS = {"heavy_up": 1, "go_dark": -1, "holdout": -1}
"""Design kinds and the sign of the effect they look for."""


@dataclass(frozen=True)
class DesignSpec:
    """What the user wants from a test; lengths in panel periods (days or weeks)."""

    channel: str
    lengths: tuple[int, ...]
    n_treated: tuple[int, ...] = (2,)
    must_treat: tuple[str, ...] = ()
    never_treat: tuple[str, ...] = ()
    budget: float | None = None
    roi: float | None = None
    kind: str = "heavy_up"
    method: str = "ascm"
    inference: str = "placebo_t"
    level: float = 0.9
    target_power: float = 0.8
    n_candidates: int = 20
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"kind={self.kind!r}: use one of {', '.join(KINDS)}")
        if self.method not in METHODS:
            raise ConfigError(f"method={self.method!r}: use one of {', '.join(METHODS)}")
        if self.inference not in INFERENCES:
            raise ConfigError(f"inference={self.inference!r}: use one of {', '.join(INFERENCES)}")
        if not self.lengths or min(self.lengths) < 1:
            raise ConfigError(
                f"lengths={self.lengths}: give at least one test length of 1 period or more"
            )
        if not self.n_treated or min(self.n_treated) < 1:
            raise ConfigError(f"n_treated={self.n_treated}: treat at least one geo")
        for name, value in (("budget", self.budget), ("roi", self.roi)):
            if value is not None and not value > 0:
                raise ConfigError(f"{name}={value}: must be positive (or left out)")
        if set(self.must_treat) & set(self.never_treat):
            raise ConfigError(
                f"geo(s) {', '.join(sorted(set(self.must_treat) & set(self.never_treat)))} are in both "
                "must_treat and never_treat; remove them from one"
            )
        if not 0.5 <= self.level < 1 or not 0 < self.target_power < 1:
            raise ConfigError(
                f"level={self.level}, target_power={self.target_power}: use values in (0.5, 1)"
            )


@dataclass(frozen=True)
class Design:
    """The chosen design and what was compared; ``to_json`` gives ``design.json``."""

    design_id: str
    spec: DesignSpec
    treated: tuple[str, ...]
    controls: tuple[str, ...]
    length: int
    grain_days: int
    power: PowerResult
    spend_needed: float | None
    min_detectable_roi: float | None
    power_at_budget: float | None
    suggested_start: str
    matches: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    candidates: tuple[dict[str, Any], ...] = ()

    def _mde_range(self, value: float | None) -> dict[str, float] | None:
        """``value`` (proportional to the MDE) with the MDE's 90% Monte-Carlo range."""
        if value is None:
            return None
        power = self.power
        scale = value / power.mde if power.mde > 0 else 0.0
        return {"mean": value, "p05": power.mde_low * scale, "p95": power.mde_high * scale}

    @property
    def roi_se(self) -> float | None:
        """Standard error of the test's ROI read: the minimum detectable ROI is
        ``z_{(1+level)/2} + z_power`` standard errors (2.49 at a 90% level and 80% power).
        What ``margin optimize --test-se`` takes to value this test for a plan."""
        if self.min_detectable_roi is None:
            return None
        spec = self.spec
        z = NormalDist().inv_cdf(0.5 + spec.level / 2) + NormalDist().inv_cdf(spec.target_power)
        return self.min_detectable_roi / z

    def _power_range(self) -> dict[str, float] | None:
        if self.power_at_budget is None:
            return None
        n = self.power.n_windows
        low, high = wilson_interval(self.power_at_budget * n, n)
        return {"mean": self.power_at_budget, "p05": low, "p95": high}

    def to_json(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "design_id": self.design_id,
            "channel": spec.channel,
            "kind": spec.kind,
            "method": spec.method,
            "inference": spec.inference,
            "level": spec.level,
            "treatment_geos": list(self.treated),
            "control_geos": list(self.controls),
            "length_periods": self.length,
            "grain_days": self.grain_days,
            "suggested_start": self.suggested_start,
            "constraints": {
                "must_treat": list(spec.must_treat),
                "never_treat": list(spec.never_treat),
                "n_treated": list(spec.n_treated),
                "lengths": list(spec.lengths),
                "budget": spec.budget,
                "roi": spec.roi,
            },
            "power": self.power.to_json(),
            "spend_needed": self._mde_range(self.spend_needed),
            "min_detectable_roi": self._mde_range(self.min_detectable_roi),
            "roi_se": self.roi_se,
            "power_at_budget": self._power_range(),
            "matched_markets": self.matches,
            "candidates": list(self.candidates),
        }


def _candidates(
    panel: GeoPanel, spec: DesignSpec, correlation: np.ndarray
) -> list[tuple[int, ...]]:
    must = panel.geo_indices(list(spec.must_treat), "must_treat")
    never = set(panel.geo_indices(list(spec.never_treat), "never_treat"))
    free = [i for i in range(panel.n_geos) if i not in never and i not in must]
    rng = np.random.default_rng(spec.seed)
    found: set[tuple[int, ...]] = set()
    for k in spec.n_treated:
        extra = k - len(must)
        if extra < 0 or extra > len(free) or panel.n_geos - k < 2:
            raise ConfigError(
                f"n_treated={k} is impossible with {len(must)} must-treat geo(s), {len(free)} free "
                f"geo(s) and {panel.n_geos} geos in all (at least 2 must stay controls)"
            )
        typical = sorted(free, key=lambda g: -float(np.mean(correlation[g])))
        found.add(tuple(sorted(must + typical[:extra])))
        for _ in range(spec.n_candidates * 3):
            if len(found) >= spec.n_candidates * len(spec.n_treated):
                break
            draw = rng.choice(free, size=extra, replace=False).tolist() if extra else []
            found.add(tuple(sorted(must + [int(g) for g in draw])))
    return sorted(found)


def _min_pre(spec: DesignSpec, length: int) -> int:
    """Pre-period each simulated window keeps: enough placebo windows for the inference."""
    if spec.inference == "conformal":
        return length + min_placebo_windows(spec.level) + 4
    return max(2 * length, length + MIN_PLACEBO_T_WINDOWS + 4)


def _evaluate(
    panel: GeoPanel, spec: DesignSpec, treated: tuple[int, ...], length: int
) -> dict[str, Any]:
    controls = [i for i in range(panel.n_geos) if i not in treated]
    y = panel.kpi[list(treated)].sum(axis=0)
    min_pre = _min_pre(spec, length)
    stride = max(1, length // 4)
    power = simulate_power(
        y,
        panel.kpi[controls],
        length,
        method=spec.method,
        level=spec.level,
        direction=KINDS[spec.kind],
        target_power=spec.target_power,
        min_pre=min_pre,
        stride=stride,
        inference=spec.inference,
        n_treated=len(treated),
    )
    row: dict[str, Any] = {
        "treated": treated,
        "length": length,
        "power": power,
        "mde": power.mde,
        "spend_needed": None,
        "power_at_budget": None,
        "min_detectable_roi": None,
    }
    if spec.roi is not None:
        row["spend_needed"] = power.mde_absolute / spec.roi
    window_spend = None
    if spec.kind != "heavy_up" and panel.spend is not None:
        window_spend = float(panel.spend[list(treated), -length:].sum())
    elif spec.budget is not None:
        window_spend = spec.budget
    if window_spend:
        row["min_detectable_roi"] = power.mde_absolute / window_spend
        if spec.roi is not None:
            effect = KINDS[spec.kind] * window_spend * spec.roi / abs(power.recent_base)
            row["power_at_budget"] = power.power_at(effect, KINDS[spec.kind])
    return row


def _rank_key(row: dict[str, Any], spec: DesignSpec) -> tuple[float, ...]:
    """Calibrated candidates first (historical false-positive rate near the level), then
    the shortest reaching the target power at the budget, else the smallest MDE."""
    power: PowerResult = row["power"]
    low, _ = wilson_interval(power.false_positive_rate * power.n_windows, power.n_windows)
    miscalibrated = 1.0 if low > 1.0 - spec.level else 0.0
    if row["power_at_budget"] is not None:
        reaches = row["power_at_budget"] >= spec.target_power
        second = row["length"] if reaches else -row["power_at_budget"]
        return (miscalibrated, 0.0 if reaches else 1.0, second, row["mde"])
    return (miscalibrated, row["mde"], row["length"])


def design_test(panel: GeoPanel, spec: DesignSpec) -> Design:
    """Choose treated geos and a test length for ``panel`` under ``spec``.

    Raises:
        ConfigError: constraints that cannot be met. DataValidationError: a history too
            short for the requested lengths.
    """
    longest = max(spec.lengths)
    needed = longest + _min_pre(spec, longest)
    if panel.n_times < needed:
        raise DataValidationError(
            f"{panel.source}: {panel.n_times} periods of history; designing a test of up to "
            f"{longest} periods at level {spec.level} needs at least {needed}. Use a longer history "
            "or shorter --weeks"
        )
    correlation = correlation_matrix(panel.kpi)
    rows = [
        _evaluate(panel, spec, t, n)
        for t in _candidates(panel, spec, correlation)
        for n in spec.lengths
    ]
    rows.sort(key=lambda r: _rank_key(r, spec))
    best = rows[0]
    treated = best["treated"]
    controls = [i for i in range(panel.n_geos) if i not in treated]
    dtw = dtw_distances(panel.kpi[:, -min(panel.n_times, 120) :])
    matches = {
        panel.geos[g]: [
            {**m, "geo": panel.geos[int(m["geo"])]}
            for m in matches_for(g, controls, correlation, dtw)
        ]
        for g in treated
    }
    table = tuple(
        {
            "treatment_geos": [panel.geos[i] for i in r["treated"]],
            "length_periods": r["length"],
            "mde_percent": 100 * r["mde"],
            "power_at_budget": r["power_at_budget"],
            "spend_needed": r["spend_needed"],
        }
        for r in rows[:10]
    )
    last = panel.dates[-1]
    return Design(
        design_id=_design_id(panel, spec, treated, best["length"]),
        spec=spec,
        treated=tuple(panel.geos[i] for i in treated),
        controls=tuple(panel.geos[i] for i in controls),
        length=best["length"],
        grain_days=panel.grain_days,
        power=best["power"],
        spend_needed=best["spend_needed"],
        min_detectable_roi=best["min_detectable_roi"],
        power_at_budget=best["power_at_budget"],
        suggested_start=(last + timedelta(days=panel.grain_days)).isoformat(),
        matches=matches,
        candidates=table,
    )


def _design_id(panel: GeoPanel, spec: DesignSpec, treated: tuple[int, ...], length: int) -> str:
    payload = json.dumps(
        [
            panel.source,
            panel.dates[0].isoformat(),
            panel.dates[-1].isoformat(),
            spec.channel,
            spec.kind,
            [panel.geos[i] for i in treated],
            length,
        ],
        default=str,
    )
    digest = hashlib.sha256(payload.encode()).hexdigest()[:10]
    return f"{spec.channel}-{spec.kind}-{digest}"
