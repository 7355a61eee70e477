"""The reconciliation table: what each source says a channel returns, side by side.

Three sources measure a channel's return, each in currency of KPI value per currency of
spend (:data:`UNIT`):

- **MMM ROI**: the run's posterior ROI over its fitted weeks (``summary.json``'s
  ``channels.<c>.roi``, mean and 90% interval).
- **Attributed ROAS** under each attribution model: the conversion value the model
  credits to the channel, times ``attribution_scale`` (the KPI's value over the events'
  weeks ÷ the value of the events' conversions, so an event log that samples users or
  misses untracked conversions speaks for the whole KPI; 1 when the log is complete),
  divided by the channel's spend over the events' weeks (``attribution_spend``). Its
  interval scales the attribution's bootstrap p05/p95 of the credited conversions by the
  same factor (value per conversion held fixed); without a bootstrap it has none, and
  the row says so.
- **Lift-test iROAS** where the registry holds tests of the channel: per test
  ``lift × kpi_value ÷ spend_delta`` (``lift`` in KPI units), its standard error
  ``lift_se × kpi_value ÷ |spend_delta|``, its 90% interval ``mean ± 1.645 se``; several
  tests combine by precision weighting (inverse-variance: weights ``1/se²``, mean
  ``Σ w x / Σ w``, standard error ``(Σ w)^-½``).

The **incrementality factor** of an attribution model is incremental ÷ attributed:
MMM ROI ÷ attributed ROAS (and, where tested, lift iROAS ÷ attributed ROAS). Multiplying a
campaign's attributed ROAS by its channel's factor calibrates it for within-channel
decisions. Its mean is the ratio of the two means; its interval comes from a **Monte Carlo
with a fixed seed** (:data:`N_DRAWS` draws, seed :data:`SEED`): each side becomes a
distribution, log-normal matching its p05 and p95 when both are positive, normal matching
its mean and width otherwise (a lift iROAS is normal with its standard error; a ROAS
without an interval is held fixed), the ratio is taken draw by draw, and the factor's
p05/p95 are the ratio's 5th and 95th percentiles.

**Flags** mark disagreements beyond the intervals, each with a one-line reason:
``mmm_vs_lift`` when the MMM ROI and lift iROAS intervals do not overlap;
``attribution_vs_mmm`` (``attribution_vs_lift``) when a model's factor interval excludes 1.

:func:`reconcile` is pure (summary, attribution and registry rows in, a frozen
:class:`Reconciliation` out); :func:`reconcile_workspace` reads them from a workspace.
The JSON (:meth:`Reconciliation.to_json`; ``cycle.json``'s ``reconciliation``)::

    {"format": "margin-reconciliation", "version": 1, "unit", "currency", "kpi",
     "kpi_value", "run_id", "models": [...], "attribution_scale", "factor_method",
     "channels": {"<c>": {"mmm_roi", "attributed": {"<model>": {"roas", "interval",
                  "attributed_value", "spend", "note"}}, "lift": {"iroas", "se", "tests"},
                  "factor": {"<model>": {"mmm", "lift"}}, "flags": [...]}},
     "flags": [{"channel", "kind", "model", "reason"}], "notes": [...]}

Every estimate is ``{"mean", "p05", "p95"}`` or ``null`` where its source lacks the channel.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import numpy as np

from margin.errors import ConfigError, DataValidationError
from margin.types import FloatArray, Interval, quantiles
from margin.wording import span

if TYPE_CHECKING:
    import os

    import pandas as pd

    from margin.attribution import AttributionResult
    from margin.data.workspace.store import Workspace
    from margin.mmm.summary import RunSummary

__all__ = [
    "DEFAULT_MODELS", "FORMAT", "N_DRAWS", "SEED", "UNIT", "Z90", "AttributedRoas",
    "ChannelReconciliation", "Flag", "LiftEstimate", "Reconciliation", "check_models",
    "combine_lifts", "lift_estimate", "ratio_interval", "reconcile", "reconcile_workspace"
]  # fmt: skip

FORMAT = "margin-reconciliation"
"""The JSON's ``format`` (version 1)."""
UNIT = "currency of KPI value per currency of spend"
"""The unit of every ROI, ROAS and iROAS here (factors are ratios of two of them)."""
DEFAULT_MODELS = ("last_touch", "markov")
"""Attribution models reconciled when none are named."""
N_DRAWS = 20_000
"""Monte Carlo draws of a factor's interval."""
SEED = 0
"""The Monte Carlo's seed: every factor draws from a fresh ``default_rng(SEED)``."""
Z90 = NormalDist().inv_cdf(0.95)
"""1.645: a normal's 95th percentile in standard deviations (half a 90% interval)."""
_LIFT_COLUMNS = ("channel", "spend_delta", "lift", "lift_se")
_METHOD = (
    f"Monte Carlo, {N_DRAWS} draws, seed {SEED}: log-normal sides matching p05/p95 when "
    "both are positive, normal otherwise (lift iROAS: normal with its standard error); "
    "mean = ratio of the means, p05/p95 = percentiles of the draw-by-draw ratio"
)


def _ratio_text(value: float) -> str:
    return f"{value:.2f}"


def _say(stat: Interval) -> str:
    return span(stat, _ratio_text)


# -- the pieces --------------------------------------------------------------------------


@dataclass(frozen=True)
class LiftEstimate:
    """One lift test's incremental ROAS (or several tests combined, ``id`` ``"combined"``).

    Attributes:
        id: the registry id; iroas: mean and 90% interval (normal); se: its standard error.
        spend_delta: currency the test added (negative: withheld); lift: KPI units.
    """

    id: str
    iroas: Interval
    se: float
    spend_delta: float
    lift: float
    start: str | None = None
    end: str | None = None

    def to_json(self) -> dict[str, Any]:
        """``{"id", "iroas", "se", "spend_delta", "lift", "start", "end"}``."""
        return {
            "id": self.id,
            "iroas": self.iroas.to_json(),
            "se": self.se,
            "spend_delta": self.spend_delta,
            "lift": self.lift,
            "start": self.start,
            "end": self.end,
        }


def lift_estimate(row: Mapping[str, Any], kpi_value: float = 1.0) -> LiftEstimate:
    """The iROAS of one registry row (``lift`` and ``lift_se`` in KPI units).

    Raises:
        DataValidationError: a column is missing or not a finite number, ``spend_delta``
            is 0 or ``lift_se`` is not positive.
    """
    where = f"lift test {row.get('id')!r} ({row.get('channel')})"
    values = {}
    for name in ("spend_delta", "lift", "lift_se"):
        try:
            values[name] = float(row[name])
        except (KeyError, TypeError, ValueError) as err:
            raise DataValidationError(
                f"{where}: {name} is {row.get(name)!r}; expected a number (registry rows "
                "come from margin experiment analyze)"
            ) from err
        if not math.isfinite(values[name]):
            raise DataValidationError(f"{where}: {name} is {values[name]}; expected finite")
    delta, lift, lift_se = values["spend_delta"], values["lift"], values["lift_se"]
    if delta == 0 or lift_se <= 0:
        raise DataValidationError(
            f"{where}: spend_delta {delta} and lift_se {lift_se}: an iROAS needs a spend "
            "change other than 0 and a positive standard error"
        )
    mean = lift * kpi_value / delta
    se = lift_se * kpi_value / abs(delta)
    return LiftEstimate(
        id=str(row.get("id")),
        iroas=Interval(mean, mean - Z90 * se, mean + Z90 * se),
        se=se,
        spend_delta=delta,
        lift=lift,
        start=_iso(row.get("start")),
        end=_iso(row.get("end")),
    )


def _iso(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value.isoformat() if hasattr(value, "isoformat") else value)[:10]


def combine_lifts(tests: Sequence[LiftEstimate]) -> LiftEstimate | None:
    """Precision-weighted iROAS of several tests (inverse-variance); one test is itself."""
    if not tests:
        return None
    if len(tests) == 1:
        return tests[0]
    weights = np.array([1.0 / t.se**2 for t in tests])
    means = np.array([t.iroas.mean for t in tests])
    mean = float(weights @ means / weights.sum())
    se = float(1.0 / math.sqrt(weights.sum()))
    return LiftEstimate(
        id="combined",
        iroas=Interval(mean, mean - Z90 * se, mean + Z90 * se),
        se=se,
        spend_delta=float(sum(t.spend_delta for t in tests)),
        lift=float(sum(t.lift for t in tests)),
    )


def _draws(stat: Interval, rng: np.random.Generator, normal_se: float | None) -> FloatArray:
    """``(N_DRAWS,)`` draws of the distribution the module docstring gives ``stat``."""
    if normal_se is not None:
        return rng.normal(stat.mean, normal_se, N_DRAWS)
    if stat.p95 <= stat.p05:
        return np.full(N_DRAWS, stat.mean)
    if stat.p05 > 0:
        mu = (math.log(stat.p05) + math.log(stat.p95)) / 2
        sigma = (math.log(stat.p95) - math.log(stat.p05)) / (2 * Z90)
        return np.exp(rng.normal(mu, sigma, N_DRAWS))
    return rng.normal(stat.mean, (stat.p95 - stat.p05) / (2 * Z90), N_DRAWS)


def ratio_interval(
    numerator: Interval, denominator: Interval, *, numerator_se: float | None = None
) -> Interval | None:
    """``numerator ÷ denominator``: mean the ratio of the means, p05/p95 by the Monte Carlo
    of the module docstring (``numerator_se``: the numerator is normal with this standard
    error). ``None`` when the denominator's mean is not positive."""
    if not denominator.mean > 0:
        return None
    rng = np.random.default_rng(SEED)
    top = _draws(numerator, rng, numerator_se)
    bottom = _draws(denominator, rng, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = top / bottom
    low, high = quantiles(ratio[np.isfinite(ratio)], axis=None)
    return Interval(numerator.mean / denominator.mean, float(low), float(high))


@dataclass(frozen=True)
class AttributedRoas:
    """A channel's attributed ROAS under one model.

    Attributes:
        value: attributed value (scaled) ÷ spend, ``None`` without spend; interval: from
            the bootstrap, ``None`` without one. attributed_value: currency, scaled.
        spend: the channel's spend over the events' weeks; note: why a part is missing.
    """

    value: float | None
    interval: Interval | None
    attributed_value: float
    spend: float | None
    note: str | None = None

    @property
    def estimate(self) -> Interval | None:
        """The ROAS as an interval (exact when it has none), ``None`` without a value."""
        if self.value is None:
            return None
        return self.interval or Interval.exact(self.value)

    def to_json(self) -> dict[str, Any]:
        """``{"roas": {mean, p05, p95} (p05/p95 null without an interval), ...}``."""
        roas: dict[str, float | None] | None = None
        if self.interval is not None:
            roas = dict(self.interval.to_json())
        elif self.value is not None:
            roas = {"mean": self.value, "p05": None, "p95": None}
        return {
            "roas": roas,
            "interval": "bootstrap" if self.interval is not None else None,
            "attributed_value": self.attributed_value,
            "spend": self.spend,
            "note": self.note,
        }


@dataclass(frozen=True)
class Flag:
    """A disagreement beyond the intervals: ``kind`` (``mmm_vs_lift``,
    ``attribution_vs_mmm``, ``attribution_vs_lift``), the model (attribution kinds) and
    the reason in words."""

    kind: str
    model: str | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        """``{"kind", "model", "reason"}``."""
        return {"kind": self.kind, "model": self.model, "reason": self.reason}


@dataclass(frozen=True)
class ChannelReconciliation:
    """One channel's row; a source that does not cover the channel leaves ``None``.

    Attributes:
        mmm_roi: the MMM's ROI; attributed: model → :class:`AttributedRoas`.
        lift_tests: each test's iROAS; lift: their precision-weighted combination.
        factor_mmm / factor_lift: model → MMM ROI (lift iROAS) ÷ attributed ROAS.
    """

    channel: str
    mmm_roi: Interval | None
    attributed: dict[str, AttributedRoas]
    lift_tests: tuple[LiftEstimate, ...]
    lift: LiftEstimate | None
    factor_mmm: dict[str, Interval | None]
    factor_lift: dict[str, Interval | None]
    flags: tuple[Flag, ...]

    def to_json(self) -> dict[str, Any]:
        """The channel's entry of :meth:`Reconciliation.to_json`."""

        def est(stat: Interval | None) -> dict[str, float] | None:
            return None if stat is None else stat.to_json()

        return {
            "mmm_roi": est(self.mmm_roi),
            "attributed": {m: a.to_json() for m, a in self.attributed.items()},
            "lift": {
                "iroas": None if self.lift is None else est(self.lift.iroas),
                "se": None if self.lift is None else self.lift.se,
                "tests": [t.to_json() for t in self.lift_tests],
            },
            "factor": {
                m: {"mmm": est(self.factor_mmm.get(m)), "lift": est(self.factor_lift.get(m))}
                for m in self.attributed
            },
            "flags": [f.to_json() for f in self.flags],
        }


@dataclass(frozen=True)
class Reconciliation:
    """The table: one row per channel (MMM's order, then the others), the models, notes
    (sentences on what a column lacks or assumes), the run and the workspace's currency."""

    rows: tuple[ChannelReconciliation, ...]
    models: tuple[str, ...]
    kpi: str | None
    kpi_value: float
    attribution_scale: float
    notes: tuple[str, ...] = ()
    run_id: str | None = None
    currency: str | None = None

    def row(self, channel: str) -> ChannelReconciliation:
        """The row of ``channel`` (``KeyError`` when absent)."""
        for r in self.rows:
            if r.channel == channel:
                return r
        raise KeyError(channel)

    @property
    def unit(self) -> str:
        """The unit of every return in the table (:data:`UNIT`)."""
        return UNIT

    @property
    def flags(self) -> tuple[Flag, ...]:
        """Every row's flags, in row order."""
        return tuple(f for r in self.rows for f in r.flags)

    def to_json(self) -> dict[str, Any]:
        """The JSON body (cycle.json's ``reconciliation``; ``margin reconcile --out``)."""
        return {
            "format": FORMAT,
            "version": 1,
            "unit": UNIT,
            "currency": self.currency,
            "kpi": self.kpi,
            "kpi_value": self.kpi_value,
            "run_id": self.run_id,
            "models": list(self.models),
            "attribution_scale": self.attribution_scale,
            "factor_method": _METHOD,
            "channels": {r.channel: r.to_json() for r in self.rows},
            "flags": [{"channel": r.channel, **f.to_json()} for r in self.rows for f in r.flags],
            "notes": list(self.notes),
        }


# -- the table ---------------------------------------------------------------------------


def reconcile(
    mmm: RunSummary | Mapping[str, Any],
    attribution: AttributionResult | None,
    lift_tests: pd.DataFrame | Sequence[Mapping[str, Any]],
    *,
    attribution_spend: Mapping[str, float] | None = None,
    kpi_value: float = 1.0,
    attribution_scale: float = 1.0,
) -> Reconciliation:
    """The reconciliation table of the module docstring (pure; seeded Monte Carlo).

    Args:
        mmm: the run's summary (:class:`~margin.mmm.summary.RunSummary` or the
            ``summary.json`` body).
        attribution: credits under one or more models (``None``: no attribution columns).
        lift_tests: registry rows (:func:`~margin.experiments.registry.list_experiments`'s
            frame or mappings) with ``channel, spend_delta, lift, lift_se`` (and ``id``,
            ``kpi``, ``start``, ``end``); rows of another KPI than the run's are left out.
        attribution_spend: channel → spend over the events' weeks (currency); without it
            attributed ROAS (and factors) stay empty, and the rows say why.
        kpi_value: currency per KPI unit (lifts are in KPI units; 1 for revenue).
        attribution_scale: KPI value ÷ the events' conversion value over the same weeks.

    Raises:
        ConfigError: ``kpi_value`` or ``attribution_scale`` not a positive number.
        DataValidationError: the summary lacks a channel's ROI, or the registry rows lack
            a column. A row that gives no iROAS (no spend change, no standard error) is
            left out with a note.
    """
    for name, value in (("kpi_value", kpi_value), ("attribution_scale", attribution_scale)):
        if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
            raise ConfigError(f"reconcile: {name} must be a positive number; got {value!r}")
    body = dict(mmm) if isinstance(mmm, Mapping) else mmm.to_json()
    kpi = _kpi_name(body)
    rois = _mmm_rois(body)
    tests, notes = _lift_tests(lift_tests, kpi, kpi_value)
    models = tuple(attribution.credits) if attribution is not None else ()
    attributed = _attributed(attribution, attribution_spend, kpi_value, attribution_scale)
    channels = list(rois)
    for name in (*attributed, *tests):
        if name not in channels:
            channels.append(name)
    rows = tuple(
        _row(c, rois.get(c), attributed.get(c, {}), tests.get(c, []), models) for c in channels
    )
    if attribution is not None and attribution_spend is None:
        notes.append(
            "attributed ROAS needs each channel's spend over the events' weeks "
            "(attribution_spend); only credits are known"
        )
    return Reconciliation(
        rows=rows,
        models=models,
        kpi=kpi,
        kpi_value=float(kpi_value),
        attribution_scale=float(attribution_scale),
        notes=tuple(notes),
        run_id=_run_id(body),
    )


def _kpi_name(body: Mapping[str, Any]) -> str | None:
    kpi = body.get("kpi")
    return str(kpi["name"]) if isinstance(kpi, Mapping) and kpi.get("name") else None


def _run_id(body: Mapping[str, Any]) -> str | None:
    run = body.get("run")
    return str(run["id"]) if isinstance(run, Mapping) and run.get("id") else None


def _mmm_rois(body: Mapping[str, Any]) -> dict[str, Interval]:
    channels = body.get("channels")
    if not isinstance(channels, Mapping):
        raise DataValidationError(
            "the MMM summary has no 'channels' object; pass a summary.json body or a RunSummary"
        )
    rois = {}
    for name, entry in channels.items():
        try:
            rois[str(name)] = Interval.from_json(entry["roi"])
        except (KeyError, TypeError, ValueError) as err:
            got = entry.get("roi") if isinstance(entry, Mapping) else entry
            raise DataValidationError(
                f"the MMM summary's channels.{name}.roi is {got!r}; expected "
                "{mean, p05, p95} (the summary.json of margin mmm fit)"
            ) from err
    return rois


def _records(rows: pd.DataFrame | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    if hasattr(rows, "to_dict"):
        return [{str(k): v for k, v in r.items()} for r in rows.to_dict(orient="records")]
    return [dict(r) for r in rows]


def _lift_tests(
    rows: pd.DataFrame | Sequence[Mapping[str, Any]], kpi: str | None, kpi_value: float
) -> tuple[dict[str, list[LiftEstimate]], list[str]]:
    tests: dict[str, list[LiftEstimate]] = {}
    skipped: list[str] = []
    unusable: list[str] = []
    for i, row in enumerate(_records(rows)):
        missing = [c for c in _LIFT_COLUMNS if c not in row]
        if missing:
            raise DataValidationError(
                f"lift test row {i + 1} lacks column(s) {missing}; registry rows have "
                f"{', '.join(_LIFT_COLUMNS)} (margin.experiments.registry.list_experiments)"
            )
        other = row.get("kpi")
        if kpi is not None and isinstance(other, str) and other and other != kpi:
            skipped.append(str(row.get("id")))
            continue
        try:
            estimate = lift_estimate(row, kpi_value)
        except DataValidationError as err:  # e.g. an imported test without its spend change
            unusable.append(f"{err}; left out")
            continue
        tests.setdefault(str(row["channel"]), []).append(estimate)
    if skipped:
        unusable.append(f"lift test(s) {skipped} measured another KPI than {kpi!r}; left out")
    return tests, unusable


def _attributed(
    attribution: AttributionResult | None,
    spend: Mapping[str, float] | None,
    kpi_value: float,
    scale: float,
) -> dict[str, dict[str, AttributedRoas]]:
    """channel → model → :class:`AttributedRoas` (module docstring)."""
    if attribution is None:
        return {}
    by_value = attribution.totals.get("value", 0.0) > 0
    out: dict[str, dict[str, AttributedRoas]] = {}
    for model, credits in attribution.credits.items():
        for channel, credit in credits.items():
            worth = (credit.value if by_value else credit.conversions * kpi_value) * scale
            cost = None if spend is None else spend.get(channel)
            out.setdefault(channel, {})[model] = _roas(credit, worth, cost, spend is None)
    return out


def _roas(credit: Any, worth: float, cost: float | None, no_spend: bool) -> AttributedRoas:
    if cost is None or not cost > 0:
        note = (
            "no spend given for the events' weeks"
            if no_spend
            else "no spend recorded for the channel over the events' weeks: no ROAS"
        )
        return AttributedRoas(None, None, worth, cost, note)
    value = worth / cost
    if credit.p05 is None or credit.p95 is None or not credit.conversions > 0:
        note = "no interval: the attribution ran without a bootstrap"
        return AttributedRoas(value, None, worth, cost, note)
    per = value / credit.conversions
    return AttributedRoas(value, Interval(value, credit.p05 * per, credit.p95 * per), worth, cost)


def _row(
    channel: str,
    roi: Interval | None,
    attributed: Mapping[str, AttributedRoas],
    tests: Sequence[LiftEstimate],
    models: Iterable[str],
) -> ChannelReconciliation:
    lift = combine_lifts(tests)
    factor_mmm: dict[str, Interval | None] = {}
    factor_lift: dict[str, Interval | None] = {}
    full = {
        m: attributed.get(m, AttributedRoas(None, None, 0.0, None, "not credited")) for m in models
    }
    for model, roas in full.items():
        estimate = roas.estimate
        factor_mmm[model] = (
            None if roi is None or estimate is None else ratio_interval(roi, estimate)
        )
        factor_lift[model] = (
            None
            if lift is None or estimate is None
            else ratio_interval(lift.iroas, estimate, numerator_se=lift.se)
        )
    flags = _flags(channel, roi, lift, full, factor_mmm, factor_lift)
    return ChannelReconciliation(
        channel=channel,
        mmm_roi=roi,
        attributed=full,
        lift_tests=tuple(tests),
        lift=lift,
        factor_mmm=factor_mmm,
        factor_lift=factor_lift,
        flags=flags,
    )


def _flags(
    channel: str,
    roi: Interval | None,
    lift: LiftEstimate | None,
    attributed: Mapping[str, AttributedRoas],
    factor_mmm: Mapping[str, Interval | None],
    factor_lift: Mapping[str, Interval | None],
) -> tuple[Flag, ...]:
    flags = []
    tested = None if lift is None else lift.iroas
    if roi is not None and tested is not None and (roi.p95 < tested.p05 or tested.p95 < roi.p05):
        way = "overstates" if roi.p05 > tested.p95 else "understates"
        flags.append(
            Flag(
                "mmm_vs_lift",
                None,
                f"MMM ROI {_say(roi)} and lift-test iROAS {_say(tested)} do not "
                f"overlap: the model {way} what the channel returns; fit the MMM calibrated "
                "by the test",
            )
        )
    for model, roas in attributed.items():
        for kind, factor, source, incremental in (
            ("attribution_vs_mmm", factor_mmm.get(model), "MMM ROI", roi),
            ("attribution_vs_lift", factor_lift.get(model), "lift-test iROAS", tested),
        ):
            if factor is None or factor.contains(1.0) or roas.estimate is None:
                continue
            assert incremental is not None  # a factor exists only with its numerator
            over = factor.p95 < 1
            flags.append(
                Flag(
                    kind,
                    model,
                    f"{model} ROAS {_say(roas.estimate)} but {source} "
                    f"{_say(incremental)}: factor {_say(factor)} is {'below' if over else 'above'} "
                    f"1, attribution {'over' if over else 'under'}-credits {channel}; multiply "
                    f"its campaigns' {model} ROAS by the factor",
                )
            )
    return tuple(flags)


# -- from a workspace --------------------------------------------------------------------


def check_models(models: Sequence[str]) -> tuple[str, ...]:
    """``models`` as attribution model names, in :data:`~margin.attribution.MODELS`' order.

    Raises:
        ConfigError: none given, or a name that is not a model.
    """
    from margin.attribution import MODELS

    names = tuple(m.strip().lower() for m in models if m.strip())
    unknown = [m for m in names if m not in MODELS]
    if unknown or not names:
        raise ConfigError(
            f"unknown attribution model(s) {unknown or list(models)}; use one or more of "
            f"{', '.join(MODELS)} (comma-separated)"
        )
    return tuple(m for m in MODELS if m in names)


def reconcile_workspace(
    workspace: str | os.PathLike[str] | None = None,
    run: str | Path | None = None,
    models: Sequence[str] = DEFAULT_MODELS,
    *,
    n_bootstrap: int = 200,
    seed: int = 0,
) -> Reconciliation:
    """The reconciliation table of a workspace: its latest usable MMM run (or ``run``: a
    run id or a run folder), attribution of its events under ``models`` (bootstrap of
    ``n_bootstrap`` replicates, ``seed``) against the spend of the weeks the events span,
    and its lift-test registry. Without events, the table has the MMM and lift columns and
    a note saying attribution needs events. Reads only.

    Raises:
        WorkspaceError: the workspace does not exist or has no usable MMM run.
        ConfigError: an unknown model name, or ``run`` is neither a run id nor a folder.
    """
    from margin.data.workspace.runs import load_summary
    from margin.data.workspace.store import Workspace
    from margin.experiments.registry import list_experiments

    names = check_models(models)
    with Workspace(workspace, read_only=True) as ws:
        source = _run_source(ws, run)
        summary = load_summary(source)
        lifts = list_experiments(ws)
        window = _events_window(ws)
        spend, kpi_total = _window_totals(ws, window, _kpi_name(summary))
        path, currency = ws.path, ws.settings.currency
    kpi_value = _summary_kpi_value(summary, source)
    if window is None:
        table = reconcile(summary, None, lifts, kpi_value=kpi_value)
        note = "attribution needs events: load them with margin ingest events FILE"
        return replace(table, notes=(*table.notes, note), currency=currency)
    attribution = _attribution(path, names, n_bootstrap, seed)
    scale, scale_note = _scale(attribution, kpi_total, kpi_value)
    table = reconcile(
        summary,
        attribution,
        lifts,
        attribution_spend=spend,
        kpi_value=kpi_value,
        attribution_scale=scale,
    )
    weeks = f"attribution covers the events' weeks {window[0]} to {window[1]}; {scale_note}"
    return replace(table, notes=(*table.notes, weeks), currency=currency)


def _run_source(ws: Workspace, run: str | Path | None) -> Any:
    """The ``runs`` row (or folder) of the run to reconcile."""
    from margin.data.workspace.runs import USABLE, find_run, latest_run
    from margin.errors import WorkspaceError

    if run is None:
        row = latest_run(ws, kind="mmm", statuses=USABLE)
        if row is None:
            raise WorkspaceError(
                f"workspace {ws.path} has no usable MMM run; fit one with "
                f"margin mmm fit -w {ws.path} (or run margin demo)"
            )
        return row
    found = find_run(ws, str(run))
    if found is not None:
        return found
    if Path(run).is_dir():
        return Path(run)
    raise ConfigError(
        f"--run {str(run)!r} is neither a run id of workspace {ws.path} nor a run folder; "
        "pass an MMM run id (margin status lists the runs) or the --out folder of margin mmm fit"
    )


def _events_window(ws: Workspace) -> tuple[str, str] | None:
    """The first and last day of the events (ISO), ``None`` without events."""
    from margin.data.workspace.status import workspace_status

    for table in workspace_status(ws).tables:
        if table.name == "events" and table.rows and table.first and table.last:
            return table.first.isoformat(), table.last.isoformat()
    return None


def _window_totals(
    ws: Workspace, window: tuple[str, str] | None, kpi: str | None
) -> tuple[dict[str, float], float | None]:
    """Spend per channel and the KPI (KPI units) over the weeks that overlap ``window``."""
    if window is None:
        return {}, None
    weeks = "week > CAST(? AS DATE) - INTERVAL 7 DAY AND week <= CAST(? AS DATE)"
    spend = ws.fetch(
        f"SELECT channel, sum(spend) FROM spend_weekly WHERE {weeks} GROUP BY channel",
        list(window),
    )
    (total,) = ws.fetch(
        f"SELECT sum(value) FROM outcomes_weekly WHERE {weeks} AND kpi = ?", [*window, kpi]
    )[0]
    return {str(c): float(s) for c, s in spend}, None if total is None else float(total)


def _summary_kpi_value(summary: Mapping[str, Any], source: Any) -> float:
    """Currency per KPI unit: 1 for revenue; a conversion KPI's from the run's model.json."""
    from margin.data.workspace.runs import read_json_object

    kpi = summary.get("kpi")
    if not isinstance(kpi, Mapping) or kpi.get("type") != "conversions":
        return 1.0
    folder = source.path if hasattr(source, "path") else Path(source)
    if not (folder / "model.json").is_file():
        return 1.0
    meta = read_json_object(folder / "model.json", "run model file", "fit the model again")
    value = meta.get("kpi", {}).get("value")
    return float(value) if isinstance(value, int | float) and value > 0 else 1.0


def _attribution(
    workspace: Path, models: tuple[str, ...], n_bootstrap: int, seed: int
) -> AttributionResult:
    from margin.attribution import ModelSettings, attribute, journeys_from_workspace

    aggregates = journeys_from_workspace(workspace)
    return attribute(aggregates, models, ModelSettings(n_bootstrap=n_bootstrap, seed=seed))


def _scale(
    attribution: AttributionResult, kpi_total: float | None, kpi_value: float
) -> tuple[float, str]:
    """KPI value ÷ the events' conversion value (both over the events' weeks), and a note."""
    totals = attribution.totals
    events = totals.get("value", 0.0) + totals.get("unattributed_value", 0.0)
    if not events > 0:
        conversions = totals.get("conversions", 0.0) + totals.get("unattributed_conversions", 0.0)
        events = conversions * kpi_value
    if kpi_total is None or not kpi_total > 0 or not events > 0:
        return 1.0, "the KPI over those weeks is unknown, so attributed value is not rescaled"
    scale = kpi_total * kpi_value / events
    return scale, (
        f"attributed value is rescaled by {scale:.3g} (the KPI's value over those weeks ÷ the "
        "events' conversion value) so the event log speaks for the whole KPI"
    )
