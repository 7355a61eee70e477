"""A fitted MMM run as a :class:`~margin.protocols.ResponseModel` (and a
:class:`~margin.protocols.FittedResponse`), for planning.

:func:`load_response` reads a run folder (:func:`margin.mmm.artifacts.load_run`) and returns
an :class:`MMMResponse`. It predicts with the model's own code: scaled media
``x[g, t, c] = spend[g, t, c] / share[g] / spend_scale[c]`` goes through
:func:`margin.mmm.model.media_response` (adstock with ``max_lag`` normalised weights, then
saturation) times ``beta``, and the KPI is ``kpi_scale · share[g] · Σ_c beta_c · sat``.

Time. ``history`` is the panel's spend up to a week (by default the last week of the
panel the model was fitted on, held-out weeks included); every plan starts the week after
it (:attr:`MMMResponse.start`). The last ``max_lag - 1`` weeks of history carry over into
a plan.

Baseline of future weeks (:meth:`MMMResponse.baseline_kpi`): the intercept, the trend
extrapolated, the yearly Fourier seasonality of the future dates, and the **controls held at
their mean over the last 13 weeks of history** (controls are not forecast). Observation
noise: ``sigma · share[g] · kpi_scale`` per draw; with the negative-binomial likelihood the
sd of the counts at the geo's average fitted week, ``sqrt(m_g + m_g²/phi)`` with ``m_g =
share[g] · kpi_scale`` (:meth:`MMMResponse.observation_sd`).

Numbers are computed in float32 (as the model is fitted) and returned as float64.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from margin.checks import check_known
from margin.data.panel.marketing_data import MarketingData
from margin.errors import ConfigError, DataValidationError
from margin.mmm.artifacts import SavedRun, load_run
from margin.mmm.config import ModelConfig
from margin.mmm.inputs import Scaling, model_inputs
from margin.mmm.model import media_response
from margin.mmm.summary import flat_params, predict_draws
from margin.mmm.transforms import geometric_weights, weibull_weights
from margin.types import FloatArray

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CONTROL_LOOKBACK",
    "MMMResponse",
    "future_controls",
    "holdout_response",
    "load_response",
]

CONTROL_LOOKBACK = 13
"""Future controls are held at their mean over this many last weeks of history."""


@functools.cache
def _programs(
    adstock: str, saturation: str, max_lag: int
) -> tuple[Callable[..., Array], Callable[..., Array], Callable[..., Array]]:
    """Compiled media KPI (one plan; one plan per draw) and its weighted gradient.

    Each program is compiled once per input shape (``jax.jit`` caches by shape).
    """
    config = ModelConfig(
        adstock=adstock,  # type: ignore[arg-type]
        saturation=saturation,  # type: ignore[arg-type]
        max_lag=max_lag,
    )

    def one_draw(params: dict[str, Array], spend: Array, share: Array, scale: Array) -> Array:
        scaled = spend / share[:, None, None] / scale
        response = params["beta"] * media_response(params, scaled, config)
        return response.sum(axis=2) * share[:, None]  # (g, t) in units of kpi_scale

    shared = jax.jit(jax.vmap(one_draw, in_axes=(0, None, None, None)))
    per_draw = jax.jit(jax.vmap(one_draw, in_axes=(0, 0, None, None)))

    def weighted_total(
        spend: Array, params: dict[str, Array], weights: Array, share: Array, scale: Array
    ) -> Array:
        kpi = jax.vmap(one_draw, in_axes=(0, None, None, None))(params, spend, share, scale)
        return (weights * kpi.sum(axis=(1, 2))).sum()

    def gradient(
        spend: Array, params: dict[str, Array], weights: Array, share: Array, scale: Array
    ) -> Array:
        _, pullback = jax.vjp(lambda s: weighted_total(s, params, weights, share, scale), spend)
        grad: Array = pullback(jnp.ones((), dtype=spend.dtype))[0]
        return grad

    return shared, per_draw, jax.jit(gradient)


@dataclass(frozen=True, eq=False)
class MMMResponse:
    """A fitted MMM's response to spend plans (see the module docstring).

    Build it with :func:`load_response`. Implements
    :class:`~margin.protocols.ResponseModel` and :class:`~margin.protocols.FittedResponse`.

    Attributes:
        channels, geos: axis names, the model's order.
        kpi_value: currency per KPI unit (1 for revenue; for conversions the KPI-weighted
            mean revenue per conversion over the last 13 fitted weeks).
        history: ``(n_geos, n_history, n_channels)`` spend up to the week before ``start``.
        start: the first week of every plan (the week after history).
        run_id: the run's id; kpi_name: the KPI's name.
        config: the model structure.
        scaling: the run's scaling constants.
        params: posterior draws flattened to ``(n_draws, ...)``, float32.
        sigma: ``(n_draws,)`` observation noise sd in scaled units (negative binomial:
            the national sd at the average fitted week, ``sqrt(1/kpi_scale + 1/phi)``).
        phi: ``(n_draws,)`` the negative binomial's concentration; ``None`` for the
            normal and Student-t likelihoods.
        control_level: ``(n_geos, n_controls)`` raw controls held for future weeks.
        known_controls: ``(n_geos, k, n_controls)`` raw controls of the first ``k`` weeks
            after history when they are known (a backtest from a run whose history ends
            before its data do: those weeks happened), used instead of ``control_level``.
        fit_caveats: what the fit says about its own reliability, repeated with every
            plan (approximate fit, or NUTS that did not converge).
        baseline_value: currency per baseline KPI unit when the media KPI is valued per
            channel (:meth:`with_channel_values`); 1 otherwise.
        prior_dominated: channels whose ROI posterior is mostly the prior (posterior/prior
            sd of log ROI above :data:`~margin.mmm.diagnostics.PRIOR_DOMINANCE`).
    """

    channels: tuple[str, ...]
    geos: tuple[str, ...]
    kpi_value: float
    history: FloatArray
    start: date
    run_id: str
    kpi_name: str
    config: ModelConfig
    scaling: Scaling
    params: dict[str, Array] = field(repr=False)
    sigma: FloatArray = field(repr=False)
    control_level: FloatArray = field(repr=False)
    control_names: tuple[str, ...] = ()
    fit_caveats: tuple[str, ...] = ()
    prior_dominated: tuple[str, ...] = ()
    known_controls: FloatArray | None = field(default=None, repr=False)
    baseline_value: float = 1.0
    phi: FloatArray | None = field(default=None, repr=False)

    @property
    def n_draws(self) -> int:
        return int(self.sigma.shape[0])

    @property
    def carryover_weeks(self) -> int:
        return self.config.max_lag - 1

    @property
    def baseline_note(self) -> str:
        """How future baseline weeks are made (shown beside forecasts)."""
        held = f"controls at their mean over the last {CONTROL_LOOKBACK} weeks"
        if self.known_controls is not None and self.known_controls.shape[1]:
            weeks = self.known_controls.shape[1]
            held = f"controls as known for the first {weeks} weeks (then {held})"
        return (
            "baseline of future weeks: intercept, trend extrapolated, seasonality of the "
            f"future dates, {held}"
        )

    def dates(self, n_weeks: int) -> list[date]:
        """The first day of each of the ``n_weeks`` weeks after history."""
        return [self.start + timedelta(weeks=w) for w in range(n_weeks)]

    def with_controls(
        self, frame: pd.DataFrame, *, source: str = "controls file", first_row: int = 2
    ) -> MMMResponse:
        """This model with the known future controls of a ``date, [geo,] name, value``
        table (see :func:`future_controls`, which raises ``DataValidationError``)."""
        known = future_controls(self, frame, source=source, first_row=first_row)
        return replace(self, known_controls=known)

    # -- media -------------------------------------------------------------------------
    def _series(self, spend: FloatArray) -> tuple[np.ndarray[Any, Any], int]:
        """``spend`` preceded by the carry-over weeks of history, float32; and that count."""
        spend = np.asarray(spend, dtype=np.float64)
        n_geos, n_channels = len(self.geos), len(self.channels)
        ok = (spend.ndim == 3 and (spend.shape[0], spend.shape[2]) == (n_geos, n_channels)) or (
            spend.ndim == 4
            and (spend.shape[:2], spend.shape[3]) == ((self.n_draws, n_geos), n_channels)
        )
        if not ok:
            raise ConfigError(
                f"spend has shape {spend.shape}; expected (n_geos={n_geos}, n_weeks, "
                f"n_channels={n_channels}) or (n_draws={self.n_draws}, n_geos, n_weeks, n_channels)"
            )
        if not np.all(np.isfinite(spend)) or np.any(spend < 0):
            raise ConfigError("spend has negative or non-finite amounts; give amounts >= 0")
        prefix = self.carryover_weeks
        short = max(prefix - self.history.shape[1], 0)  # spend before the panel counts as 0
        padded = np.pad(self.history, ((0, 0), (short, 0), (0, 0)))
        past = padded[:, padded.shape[1] - prefix :, :]
        if spend.ndim == 4:
            past = np.broadcast_to(past, (spend.shape[0], *past.shape))
        series = np.concatenate([past, spend], axis=-2).astype(np.float32)
        return series, prefix

    def _constants(self) -> tuple[Array, Array]:
        return (
            jnp.asarray(self.scaling.share, dtype=jnp.float32),
            jnp.asarray(self.scaling.spend_scale, dtype=jnp.float32),
        )

    def media_kpi(self, spend: FloatArray) -> FloatArray:
        """Media KPI per draw ``(n_draws, n_geos, n_weeks)``, KPI units, with history's carry-over.

        Args:
            spend: ``(n_geos, n_weeks, n_channels)`` or ``(n_draws, n_geos, n_weeks,
                n_channels)``, currency.
        """
        series, prefix = self._series(spend)
        shared, per_draw, _ = _programs(
            self.config.adstock, self.config.saturation, self.config.max_lag
        )
        program = shared if series.ndim == 3 else per_draw
        kpi = np.asarray(program(self.params, series, *self._constants()), dtype=np.float64)
        result: FloatArray = kpi[:, :, prefix:] * self.scaling.kpi_scale
        return result

    def media_kpi_gradient(self, spend: FloatArray, draw_weights: FloatArray) -> FloatArray:
        """``(n_geos, n_weeks, n_channels)``: ``∂/∂spend Σ_d w_d Σ_{g,t} media_kpi`` (``jax.vjp``)."""
        series, prefix = self._series(spend)
        if series.ndim != 3:
            raise ConfigError("media_kpi_gradient takes one plan (n_geos, n_weeks, n_channels)")
        weights = np.asarray(draw_weights, dtype=np.float32)
        if weights.shape != (self.n_draws,):
            raise ConfigError(f"draw_weights has shape {weights.shape}; expected ({self.n_draws},)")
        _, _, gradient = _programs(self.config.adstock, self.config.saturation, self.config.max_lag)
        grad = gradient(series, self.params, weights, *self._constants())
        result: FloatArray = (
            np.asarray(grad, dtype=np.float64)[:, prefix:, :] * self.scaling.kpi_scale
        )
        return result

    # -- baseline and noise ------------------------------------------------------------
    def baseline_kpi(self, n_weeks: int) -> FloatArray:
        """KPI without media per draw ``(n_draws, n_geos, n_weeks)`` for the weeks after history.

        Trend extrapolated, seasonality of those dates, controls as known
        (``known_controls``), else at their mean over the last :data:`CONTROL_LOOKBACK`
        weeks of history.
        """
        if not isinstance(n_weeks, int) or n_weeks < 1:
            raise ConfigError(f"n_weeks = {n_weeks!r}; expected a whole number of weeks >= 1")
        n_geos, n_channels = len(self.geos), len(self.channels)
        controls = np.repeat(self.control_level[:, None, :], n_weeks, axis=1)
        if self.known_controls is not None:
            known = min(n_weeks, self.known_controls.shape[1])
            controls[:, :known, :] = self.known_controls[:, :known, :]
        future = MarketingData(
            dates=np.datetime64(self.start, "D") + 7 * np.arange(n_weeks),
            geos=self.geos,
            channels=self.channels,
            control_names=self.control_names,
            spend=np.zeros((n_geos, n_weeks, n_channels)),
            kpi=np.zeros((n_geos, n_weeks)),
            controls=controls,
        )
        mu = predict_draws(self.params, model_inputs(future, self.scaling), self.config)
        scale = self.scaling.kpi_scale * self.baseline_value
        result: FloatArray = np.asarray(mu, dtype=np.float64) * scale
        return result

    def observation_sd(self) -> FloatArray:
        """``(n_draws, n_geos)`` observation noise sd in KPI units.

        Negative binomial: the sd of the counts at each geo's average fitted week, ``m_g =
        share[g] · kpi_scale`` (exact for KPI shares, population shares approximate it),
        ``sqrt(m_g + m_g²/phi)`` (the count noise grows with the mean; this is its size
        at the typical week, used as a normal noise sd by forecasts and plans).
        """
        scale = self.scaling.kpi_scale * self.baseline_value
        if self.phi is not None:
            m = self.scaling.share[None, :] * self.scaling.kpi_scale
            counts_sd: FloatArray = np.sqrt(m + m**2 / self.phi[:, None]) * self.baseline_value
            return counts_sd
        result: FloatArray = self.sigma[:, None] * self.scaling.share[None, :] * scale
        return result

    def with_channel_values(
        self, values: FloatArray, baseline_value: float, kpi_name: str
    ) -> MMMResponse:
        """This model with each channel's KPI valued at its own worth per draw: a KPI that
        counts new customers becomes their customer value (currency, ``kpi_value`` 1).

        Args:
            values: ``(n_draws, n_channels)`` currency per KPI unit a channel brings (e.g.
                the value of a customer it acquires), one row per draw: their uncertainty
                goes into every prediction.
            baseline_value: currency per KPI unit of the baseline (customers no channel
                brought).
            kpi_name: the valued KPI's name (e.g. ``"customer value (52 weeks)"``).

        Raises:
            ConfigError: ``values`` of another shape, or values that are negative or not
                finite.
        """
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (self.n_draws, len(self.channels)):
            raise ConfigError(
                f"channel values have shape {values.shape}; expected (n_draws={self.n_draws}, "
                f"n_channels={len(self.channels)})"
            )
        if not (np.all(np.isfinite(values)) and np.all(values >= 0)):
            raise ConfigError("channel values must be finite and >= 0 (currency per KPI unit)")
        if not (np.isfinite(baseline_value) and baseline_value >= 0):
            raise ConfigError(f"baseline_value = {baseline_value!r}; expected a number >= 0")
        beta = self.params["beta"]
        shape = (self.n_draws, *([1] * (beta.ndim - 2)), len(self.channels))
        scaled = beta * jnp.asarray(values.reshape(shape), dtype=beta.dtype)
        return replace(
            self, params={**self.params, "beta": scaled}, kpi_value=1.0, kpi_name=kpi_name,
            baseline_value=float(baseline_value),
        )  # fmt: skip

    def take_draws(self, index: np.ndarray[Any, Any]) -> MMMResponse:
        """This model on the draws at ``index`` only (optional protocol method)."""
        keep = np.asarray(index, dtype=np.int64)
        return replace(
            self, params={k: v[keep] for k, v in self.params.items()}, sigma=self.sigma[keep],
            phi=None if self.phi is None else self.phi[keep],
        )  # fmt: skip

    def adstock_weights(self) -> FloatArray:
        """``(n_draws, max_lag, n_channels)`` the normalised lag weights of every draw."""
        max_lag = self.config.max_lag
        if self.config.adstock == "geometric":
            weights = jax.vmap(lambda d: geometric_weights(d, max_lag))(self.params["decay"])
        else:
            weights = jax.vmap(lambda k, s: weibull_weights(k, s, max_lag))(
                self.params["adstock_shape"], self.params["adstock_scale"]
            )
        result: FloatArray = np.asarray(weights, dtype=np.float64)
        return result


def _thin(n_total: int, max_draws: int | None) -> np.ndarray[Any, Any]:
    if max_draws is None or max_draws >= n_total:
        return np.arange(n_total)
    if isinstance(max_draws, bool) or not isinstance(max_draws, int) or max_draws < 1:
        raise ConfigError(f"max_draws = {max_draws!r}; expected a whole number >= 1")
    return np.unique(np.linspace(0, n_total - 1, max_draws).round().astype(np.int64))


def _history_end(run: SavedRun, end: int | None) -> int:
    n_times = int(run.arrays["spend"].shape[1])
    if end is None:
        return n_times
    if isinstance(end, bool) or not isinstance(end, int) or not 1 <= end <= n_times:
        raise ConfigError(
            f"end = {end!r}; expected the number of panel weeks used as history, 1 to {n_times}"
        )
    return end


def response_from_run(
    run: SavedRun, *, end: int | None = None, max_draws: int | None = None
) -> MMMResponse:
    """An :class:`MMMResponse` from a :class:`SavedRun` (see :func:`load_response`)."""
    meta, arrays = run.meta, run.arrays
    config = ModelConfig(**meta["config"])
    scaling = Scaling(
        kpi_scale=float(meta["scaling"]["kpi_scale"]),
        share=arrays["share"],
        spend_scale=arrays["spend_scale"],
        control_mean=arrays["control_mean"],
        control_sd=arrays["control_sd"],
        first_date=np.datetime64(meta["scaling"]["first_date"], "D"),
        fourier_terms=int(meta["scaling"]["fourier_terms"]),
    )
    n_end = _history_end(run, end)
    flat = flat_params(run.samples)
    keep = _thin(int(flat["roi"].shape[0]), max_draws)
    params = {name: jax.device_put(value[keep]) for name, value in flat.items()}
    phi = None
    if "phi" in run.samples:  # negative binomial: no sigma; the national sd at the mean
        phi = np.asarray(run.samples["phi"], dtype=np.float64).reshape(-1)[keep]
        sigma = np.sqrt(1.0 / float(meta["scaling"]["kpi_scale"]) + 1.0 / phi)
    else:
        sigma = np.asarray(run.samples["sigma"], dtype=np.float64).reshape(-1)[keep]
    dates = run.dates
    controls = arrays["controls"][:, max(n_end - CONTROL_LOOKBACK, 0) : n_end, :]
    return MMMResponse(
        channels=tuple(meta["channels"]),
        geos=tuple(meta["geos"]),
        kpi_value=float(meta["kpi"]["value"]),
        history=np.array(arrays["spend"][:, :n_end, :], dtype=np.float64),
        start=(dates[n_end - 1] + np.timedelta64(7, "D")).astype(date),
        run_id=str(meta["run_id"]),
        kpi_name=str(meta["kpi"]["name"]),
        config=config,
        scaling=scaling,
        params=params,
        sigma=sigma,
        phi=phi,
        control_level=controls.mean(axis=1),
        control_names=tuple(meta["control_names"]),
        fit_caveats=_fit_caveats(run.summary),
        prior_dominated=_prior_dominated(run.summary),
        known_controls=np.array(arrays["controls"][:, n_end:, :], dtype=np.float64),
    )


def _fit_caveats(summary: dict[str, Any]) -> tuple[str, ...]:
    """Plan-independent caveats from the run's diagnostics (approximate or not converged)."""
    diagnostics = summary.get("diagnostics") or {}
    if summary.get("method") == "approximate":
        return (
            "this run is the approximate fit (posterior mode + Laplace), whose intervals can "
            "be too narrow: refit with NUTS (margin mmm fit --method nuts) before acting on "
            "the plan.",
        )
    if diagnostics.get("converged") is False:
        return (
            f"this run did not converge (max R-hat {diagnostics.get('max_rhat', float('nan')):.3f}, "
            f"min bulk ESS {diagnostics.get('min_ess_bulk', float('nan')):.0f}, "
            f"{diagnostics.get('divergences', 0)} divergences): its intervals, and the plan's, "
            "are not to be trusted; refit with more warm-up (margin mmm fit --warmup).",
        )
    return ()


def _prior_dominated(summary: dict[str, Any]) -> tuple[str, ...]:
    from margin.mmm.diagnostics import PRIOR_DOMINANCE

    ratios = (summary.get("diagnostics") or {}).get("posterior_prior_sd_ratio") or {}
    return tuple(name for name, ratio in ratios.items() if ratio > PRIOR_DOMINANCE)


def load_response(
    run_dir: str | Path, *, end: int | None = None, max_draws: int | None = None
) -> MMMResponse:
    """The fitted model in ``run_dir`` as a response model for planning.

    Args:
        run_dir: a run folder written by ``margin mmm fit`` / :func:`save_run`.
        end: number of panel weeks taken as history (default: all, held-out weeks
            included); plans start the week after. A smaller ``end`` backtests
            (the weeks after it keep their actual controls).
        max_draws: keep at most this many posterior draws, evenly spaced (default: all).

    Raises:
        DataValidationError: the folder is missing files or from another format version.
        ConfigError: a bad ``end`` or ``max_draws``.
    """
    return response_from_run(load_run(run_dir), end=end, max_draws=max_draws)


def holdout_response(
    run_dir: str | Path, *, max_draws: int | None = None
) -> tuple[MMMResponse, FloatArray, FloatArray]:
    """The run's model as it stood at the end of its fit window, and the held-out weeks'
    actual spend ``(n_geos, n_weeks, n_channels)`` and KPI ``(n_geos, n_weeks)``: what a
    backtest needs (the response keeps those weeks' actual controls).

    Raises:
        ConfigError: the run was fitted on every week (nothing held out).
        DataValidationError: the folder is not a run (see :func:`load_response`).
    """
    saved = load_run(run_dir)
    held_out = int(saved.meta.get("holdout_weeks") or 0)
    if held_out == 0:
        raise ConfigError(
            f"the run in {run_dir} was fitted on every week, so no week is left to backtest "
            "on: refit with margin mmm fit --holdout-weeks 13 (the last 13 weeks are then "
            "left out of the fit), then backtest that run"
        )
    end = int(saved.meta["fitted_weeks"])
    response = response_from_run(saved, end=end, max_draws=max_draws)
    spend = np.array(saved.arrays["spend"][:, end:, :], dtype=np.float64)
    return response, spend, np.array(saved.arrays["kpi"][:, end:], dtype=np.float64)


def future_controls(
    response: MMMResponse, frame: pd.DataFrame, *, source: str = "controls file", first_row: int = 2
) -> FloatArray:
    """Known controls of the first weeks after ``response``'s history (a holiday calendar,
    planned prices) as ``known_controls``, from a long table ``date, [geo,] name, value``
    (the layout of ``margin ingest controls``; without ``geo``, a value holds for every geo).

    The dates must be the forecast's first weeks, consecutive from ``response.start``, and
    give every control of the model in each of them (and each geo, with ``geo``).

    Args:
        source: what the table is called in error messages.
        first_row: the number errors give the table's first row (2 in a CSV file with its
            header as row 1; 0 for a list of values).

    Returns:
        ``(n_geos, n_weeks, n_controls)`` raw controls.

    Raises:
        DataValidationError: naming the row, column, control, geo or week at fault.
    """
    import pandas as pd

    names = response.control_names
    if not names:
        raise DataValidationError(f"the model has no controls; give no {source}")
    missing = sorted({"date", "name", "value"} - set(frame.columns))
    if missing:
        raise DataValidationError(
            f"{source} lacks column(s) {missing}; expected date, [geo,] name, value (the "
            "layout of margin ingest controls), one row per week, control [and geo]"
        )
    if frame.empty:
        raise DataValidationError(
            f"{source} has no rows; give date, [geo,] name, value for each known week"
        )
    dates = pd.to_datetime(frame["date"], errors="coerce", format="ISO8601")
    values = pd.to_numeric(frame["value"], errors="coerce").to_numpy(dtype=np.float64)
    for label, bad in (("date", dates.isna().to_numpy()), ("value", ~np.isfinite(values))):
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataValidationError(
                f"{source} row {row + first_row}: {label} "
                f"{frame[label].iloc[row]!r} is not a {'date (YYYY-MM-DD)' if label == 'date' else 'number'}"
            )
    check_known(frame, "name", names, table=source, what="control")
    has_geo = "geo" in frame.columns
    if has_geo:
        check_known(frame, "geo", response.geos, table=source)
    start = pd.Timestamp(response.start)
    offsets = (dates - start).dt.days.to_numpy()
    off_grid = (offsets < 0) | (offsets % 7 != 0)
    if off_grid.any():
        row = int(np.flatnonzero(off_grid)[0])
        raise DataValidationError(
            f"{source} row {row + first_row}: {dates.iloc[row].date()} is not one of the forecast's "
            f"weeks (weekly from {response.start}, the week after the run's data)"
        )
    week = offsets // 7
    n_weeks = int(week.max()) + 1
    out = np.full((len(response.geos), n_weeks, len(names)), np.nan)
    geo_index = {g: i for i, g in enumerate(response.geos)}
    control_index = {n: i for i, n in enumerate(names)}
    seen: set[tuple[int, int, int]] = set()
    for row, (w, name, value) in enumerate(
        zip(week, frame["name"].astype(str), values, strict=True)
    ):
        geos = [geo_index[str(frame["geo"].iloc[row])]] if has_geo else list(geo_index.values())
        for g in geos:
            cell = (g, int(w), control_index[name])
            if cell in seen:
                raise DataValidationError(
                    f"{source} row {row + first_row} repeats {name} for {response.geos[g]} in the "
                    f"week of {dates.iloc[row].date()}; give each once"
                )
            seen.add(cell)
            out[cell] = value
    gaps = np.argwhere(np.isnan(out))
    if gaps.size:
        geo, gap, control = (int(v) for v in gaps[0])
        when = response.start + timedelta(weeks=gap)
        raise DataValidationError(
            f"{source} lacks {names[control]} for {response.geos[geo]} in the week of {when}: give "
            f"every control for every week from {response.start} up to the last one given"
        )
    return out
