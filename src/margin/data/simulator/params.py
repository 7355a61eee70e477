"""Every true parameter of the simulated world, as frozen, self-validating dataclasses.

Monetary parameters (``intercept``, ``beta``, spend levels, half-saturations) are in
currency units per week. A ``kpi_type="conversions"`` world divides its value-scale KPI by
``value_per_conversion``, so ROIs are the same whichever KPI type is chosen.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from margin.errors import ConfigError

__all__ = [
    "CHANNEL_LTV_PRESETS",
    "DEFAULT_CHANNELS",
    "DEFAULT_LIFT_TESTS",
    "DEFAULT_LTV_BY_CHANNEL",
    "GEO_NAMES",
    "GEO_POPULATION",
    "ORGANIC",
    "SPEND_PATTERNS",
    "ChannelParams",
    "LiftTestParams",
    "LtvParams",
    "WorldParams",
    "default_lift_tests",
    "generated_geos",
]

SpendPattern = Literal["flighted", "demand", "seasonal", "sparse"]
SPEND_PATTERNS: tuple[str, ...] = ("flighted", "demand", "seasonal", "sparse")
KPI_TYPES: tuple[str, ...] = ("revenue", "conversions")
ORGANIC = "organic"
"""The cause (and acquisition channel) of a conversion no channel caused."""


def _fail(where: str, received: object, expected: str) -> ConfigError:
    return ConfigError(f"{where} = {received!r} is invalid: expected {expected}.")


def _check_positive(where: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise _fail(where, value, "a finite number > 0")


def _check_fraction(where: str, value: float, *, closed: bool = False) -> None:
    ok = 0 <= value <= 1 if closed else 0 < value < 1
    if not (math.isfinite(value) and ok):
        raise _fail(where, value, "a number in [0, 1]" if closed else "a number in (0, 1)")


@dataclass(frozen=True)
class ChannelParams:
    """One media channel: how it is bought and what it truly does.

    ``weekly_spend`` is the mean national weekly spend in the weeks the channel is on;
    ``active_share`` is the share of weeks it is on (flighted and sparse patterns).
    ``half_saturation`` (K) and ``beta`` are national-equivalent: in a geo with population
    share ``s`` the effect is ``beta * s * hill(adstock / s, K, slope)``.
    """

    name: str
    pattern: SpendPattern
    weekly_spend: float
    decay: float
    max_lag: int
    half_saturation: float
    slope: float
    beta: float
    cost_per_thousand: float
    click_through_rate: float
    theme: str
    active_share: float = 1.0

    def __post_init__(self) -> None:
        where = f"ChannelParams(name={self.name!r})"
        if not self.name.isidentifier() or self.name != self.name.lower():
            raise _fail(f"{where}.name", self.name, "a lowercase identifier such as 'tv'")
        if self.pattern not in SPEND_PATTERNS:
            raise _fail(f"{where}.pattern", self.pattern, f"one of {SPEND_PATTERNS}")
        for attr in ("weekly_spend", "half_saturation", "slope", "beta", "cost_per_thousand"):
            _check_positive(f"{where}.{attr}", getattr(self, attr))
        if not (0 <= self.decay < 1):
            raise _fail(f"{where}.decay", self.decay, "a geometric decay in [0, 1)")
        if not (1 <= self.max_lag <= 52):
            raise _fail(f"{where}.max_lag", self.max_lag, "an integer number of weeks in [1, 52]")
        _check_fraction(f"{where}.click_through_rate", self.click_through_rate, closed=True)
        if not (0 < self.active_share <= 1):
            raise _fail(f"{where}.active_share", self.active_share, "a share in (0, 1]")
        if not self.theme.isidentifier():
            raise _fail(f"{where}.theme", self.theme, "an identifier such as 'brand'")


@dataclass(frozen=True)
class LiftTestParams:
    """A geo experiment run inside the world on one channel's spend.

    In each treated geo and test week the spend becomes ``plan * spend_multiplier +
    weekly_spend_added``: a multiplier > 1 or an added amount (currency per geo-week) is a
    heavy-up, ``spend_multiplier=0`` a go-dark. The test runs for weeks ``start_week ..
    start_week + n_weeks - 1`` (0-based) in ``treatment_geos``; every other geo is a control.
    """

    id: str
    channel: str
    treatment_geos: tuple[str, ...]
    start_week: int
    n_weeks: int
    spend_multiplier: float = 1.0
    weekly_spend_added: float = 0.0

    def __post_init__(self) -> None:
        where = f"LiftTestParams(id={self.id!r})"
        if not self.id:
            raise _fail(f"{where}.id", self.id, "a non-empty test id")
        if not self.treatment_geos or len(set(self.treatment_geos)) != len(self.treatment_geos):
            raise _fail(f"{where}.treatment_geos", self.treatment_geos, "distinct geo names")
        if self.start_week < 0 or self.n_weeks < 1:
            raise _fail(
                f"{where}.start_week/n_weeks", (self.start_week, self.n_weeks), "start >= 0, n >= 1"
            )
        if not (math.isfinite(self.spend_multiplier) and self.spend_multiplier >= 0):
            raise _fail(f"{where}.spend_multiplier", self.spend_multiplier, "a number >= 0")
        if not (math.isfinite(self.weekly_spend_added) and self.weekly_spend_added >= 0):
            raise _fail(f"{where}.weekly_spend_added", self.weekly_spend_added, "an amount >= 0")
        if self.spend_multiplier == 1 and self.weekly_spend_added == 0:
            raise _fail(
                f"{where}.spend_multiplier/weekly_spend_added",
                (1.0, 0.0),
                "a change: a multiplier != 1 (0 for go-dark) or an added amount > 0",
            )


@dataclass(frozen=True)
class LtvParams:
    """BG/NBD purchase process and Gamma-Gamma spend, time in weeks (CDNOW scale).

    Per customer: purchase rate ``λ ~ Gamma(r, rate=alpha)``, dropout ``p ~ Beta(a, b)``
    after each repeat purchase, spend scale ``ν ~ Gamma(q, rate=gamma)`` and each amount
    ``~ Gamma(p_shape, rate=ν)``; population mean amount ``p_shape * gamma / (q - 1)``.
    """

    r: float = 0.243
    alpha: float = 4.414
    a: float = 0.793
    b: float = 2.426
    p_shape: float = 6.25
    q: float = 3.74
    gamma: float = 15.44

    def __post_init__(self) -> None:
        for attr in ("r", "alpha", "a", "b", "p_shape", "gamma"):
            _check_positive(f"LtvParams.{attr}", getattr(self, attr))
        if not (math.isfinite(self.q) and self.q > 1):
            raise _fail(
                "LtvParams.q", self.q, "a number > 1 (the mean amount is infinite otherwise)"
            )

    @property
    def mean_amount(self) -> float:
        """Population mean spend per transaction, ``p * gamma / (q - 1)``."""
        return self.p_shape * self.gamma / (self.q - 1)

    @property
    def mean_rate(self) -> float:
        """Population mean purchase rate of a live customer, ``r / alpha`` per week."""
        return self.r / self.alpha

    @property
    def mean_dropout(self) -> float:
        """Population mean dropout probability after a repeat purchase, ``a / (a + b)``."""
        return self.a / (self.a + self.b)


CHANNEL_LTV_PRESETS: tuple[tuple[str, LtvParams], ...] = (
    ("tv", LtvParams(r=0.26, alpha=4.4, a=0.75, b=2.6, gamma=16.0)),
    ("search", LtvParams(r=0.32, alpha=4.0, a=0.68, b=3.3, gamma=17.5)),
    ("social", LtvParams(r=0.20, alpha=4.6, a=0.9, b=1.9, gamma=13.0)),
    ("display", LtvParams(r=0.17, alpha=4.8, a=0.95, b=1.7, gamma=12.0)),
    ("video", LtvParams(r=0.22, alpha=4.5, a=0.85, b=2.1, gamma=14.5)),
)
"""Customers by acquisition channel for the default channels (organic keeps ``ltv``):
search customers buy most often (``r/alpha`` 0.080 a week), drop out least (``a/(a+b)``
0.17) and spend most (mean amount $40); TV's are close to the CDNOW-like world default
($35, 0.055, 0.25); social, video and display prospects buy less often (0.038-0.049),
churn faster (0.29-0.36) and spend less ($27-33)."""


class _DefaultLtvByChannel(tuple[tuple[str, LtvParams], ...]):
    """Marker: the :data:`CHANNEL_LTV_PRESETS` of those of the world's channels they name."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "DEFAULT_LTV_BY_CHANNEL"


DEFAULT_LTV_BY_CHANNEL: tuple[tuple[str, LtvParams], ...] = _DefaultLtvByChannel()
"""The default of ``WorldParams.ltv_by_channel``: :data:`CHANNEL_LTV_PRESETS` for the
world's channels that have a preset; pass ``ltv_by_channel=()`` for one ``ltv`` for all."""


def _channel(name: str, pattern: SpendPattern, **kwargs: Any) -> ChannelParams:
    return ChannelParams(name=name, pattern=pattern, **kwargs)


DEFAULT_CHANNELS: tuple[ChannelParams, ...] = (
    _channel(
        "tv",
        "flighted",
        weekly_spend=300_000.0,
        active_share=0.5,
        decay=0.7,
        max_lag=8,
        half_saturation=200_000.0,
        slope=1.3,
        beta=700_000.0,
        cost_per_thousand=20.0,
        click_through_rate=0.0,
        theme="brand",
    ),
    _channel(
        "search",
        "demand",
        weekly_spend=120_000.0,
        decay=0.2,
        max_lag=3,
        half_saturation=100_000.0,
        slope=0.9,
        beta=650_000.0,
        cost_per_thousand=40.0,
        click_through_rate=0.03,
        theme="generic",
    ),
    _channel(
        "social",
        "seasonal",
        weekly_spend=80_000.0,
        decay=0.4,
        max_lag=4,
        half_saturation=90_000.0,
        slope=1.0,
        beta=300_000.0,
        cost_per_thousand=8.0,
        click_through_rate=0.008,
        theme="prospecting",
    ),
    _channel(
        "display",
        "seasonal",
        weekly_spend=50_000.0,
        decay=0.3,
        max_lag=4,
        half_saturation=60_000.0,
        slope=0.8,
        beta=100_000.0,
        cost_per_thousand=3.0,
        click_through_rate=0.002,
        theme="retargeting",
    ),
    _channel(
        "video",
        "sparse",
        weekly_spend=120_000.0,
        active_share=0.25,
        decay=0.5,
        max_lag=6,
        half_saturation=60_000.0,
        slope=1.0,
        beta=150_000.0,
        cost_per_thousand=15.0,
        click_through_rate=0.004,
        theme="launch",
    ),
)
"""The default media mix: flighted TV, demand-chasing search, seasonal social and
display, sparse video. About 16% of the KPI is media-driven."""

GEO_NAMES: tuple[str, ...] = (
    "north", "south", "east", "west", "central", "coastal",
    "mountain", "valley", "lakes", "plains", "islands", "metro",
)  # fmt: skip
"""Names of generated geos, in order; beyond 12 geos they are ``geo_001, geo_002, ...``."""
GEO_POPULATION: tuple[float, ...] = (8.0, 5.5, 4.0, 3.0, 2.0, 1.5, 1.2, 1.0, 0.9, 0.8, 0.7, 0.6)
"""Populations (millions) of the generated geos; a national world has the first six's sum."""
DEFAULT_N_GEOS = 6
MAX_GEOS = 500


class _DefaultLiftTests(tuple[LiftTestParams, ...]):
    """Marker: place the default lift tests for the world's geos, weeks and channels."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "DEFAULT_LIFT_TESTS"


DEFAULT_LIFT_TESTS: tuple[LiftTestParams, ...] = _DefaultLiftTests()
"""The default of ``WorldParams.lift_tests``, resolved by :func:`default_lift_tests`."""


def generated_geos(n_geos: int) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """Names and populations (millions) of ``n_geos`` generated geos.

    One geo is ``"national"``; up to 12 take :data:`GEO_NAMES`; more are ``geo_001...``
    with populations ``8 / k^0.8``.
    """
    if not (1 <= n_geos <= MAX_GEOS):
        raise _fail("WorldParams.n_geos", n_geos, f"an integer in [1, {MAX_GEOS}]")
    if n_geos == 1:
        return ("national",), (sum(GEO_POPULATION[:DEFAULT_N_GEOS]),)
    if n_geos <= len(GEO_NAMES):
        return GEO_NAMES[:n_geos], GEO_POPULATION[:n_geos]
    names = tuple(f"geo_{k:03d}" for k in range(1, n_geos + 1))
    return names, tuple(round(8.0 / k**0.8, 4) for k in range(1, n_geos + 1))


def default_lift_tests(
    geos: tuple[str, ...],
    population: tuple[float, ...],
    channels: tuple[ChannelParams, ...],
    n_weeks: int,
) -> tuple[LiftTestParams, ...]:
    """The default geo tests: a heavy-up of the first channel and a go-dark of the second.

    Heavy-up: ``geos[1:3]`` (``geos[1]`` below 4 geos) get ``0.85 × weekly_spend × their
    mean population share`` added per geo-week for ``min(6, n_weeks // 16)`` weeks from
    week ``≈ 0.58 n_weeks``. Go-dark: ``geos[3]`` (the last geo below 4 geos) stops the
    second channel for ``min(4, n_weeks // 26)`` weeks from week ``≈ 0.77 n_weeks``. With
    the defaults: TV +$50k per geo-week in south and east for weeks 60-65, search dark in
    west for weeks 80-83. A one-geo world has no geo tests.
    """
    if len(geos) < 2:
        return ()
    heavy_geos = geos[1:3] if len(geos) >= 4 else geos[1:2]
    dark_geo = geos[3] if len(geos) >= 4 else geos[-1]
    first, second = channels[0], channels[1 if len(channels) > 1 else 0]
    share = [population[geos.index(g)] / sum(population) for g in heavy_geos]
    added = max(1000.0, round(0.85 * first.weekly_spend * sum(share) / len(share), -3))
    heavy_start, dark_start = round(n_weeks * 60 / 104), round(n_weeks * 80 / 104)
    return (
        LiftTestParams(
            f"lift_{first.name}_heavy_up", first.name, heavy_geos, heavy_start,
            min(6, max(1, n_weeks // 16)), weekly_spend_added=added,
        ),
        LiftTestParams(
            f"lift_{second.name}_go_dark", second.name, (dark_geo,), dark_start,
            min(4, max(1, n_weeks // 26)), spend_multiplier=0.0,
        ),
    )  # fmt: skip


@dataclass(frozen=True)
class WorldParams:
    """Every true parameter of one simulated world (defaults: 6 geos, 104 weeks, 5 channels).

    Baseline per geo ``g`` (population share ``s_g``) and week ``t`` in currency units::

        intercept * s_g * [(1 + trend_per_year * years_t) * (1 + seasonality_t)
                           + holiday_effect * holiday_gt
                           + price_coefficient * (price_gt - reference_price)]

    ``seasonality_t = Σ_k cos_k cos(k θ_t) + sin_k sin(k θ_t)`` with ``θ_t`` the angle of
    the week's start in its calendar year. Noise sd in geo ``g`` is ``noise_cv * intercept
    * s_g`` (currency units).

    Geos: give ``geos`` and ``population`` explicitly, or leave them empty to generate
    ``n_geos`` of them (:func:`generated_geos`; ``n_geos=1`` is the ``"national"`` world,
    also :meth:`national`). After construction ``geos``, ``population`` and ``n_geos`` are
    always filled in, and ``lift_tests`` left at :data:`DEFAULT_LIFT_TESTS` holds the
    tests :func:`default_lift_tests` places for these geos, weeks and channels.
    """

    n_geos: int = 0
    geos: tuple[str, ...] = ()
    population: tuple[float, ...] = ()
    start: date = date(2023, 1, 2)
    n_weeks: int = 104
    channels: tuple[ChannelParams, ...] = DEFAULT_CHANNELS
    kpi_type: Literal["revenue", "conversions"] = "revenue"
    value_per_conversion: float = 35.0
    currency: str = "USD"
    intercept: float = 4_000_000.0
    trend_per_year: float = 0.05
    seasonality_cos: tuple[float, ...] = (0.03, 0.02)
    seasonality_sin: tuple[float, ...] = (-0.08, -0.02)
    holiday_effect: float = 0.35
    price_coefficient: float = -1.2
    reference_price: float = 1.0
    price_sd: float = 0.02
    promo_rate: float = 0.08
    promo_depth: float = 0.12
    spend_noise_cv: float = 0.15
    noise_cv: float = 0.04
    lift_tests: tuple[LiftTestParams, ...] = DEFAULT_LIFT_TESTS
    lift_se_inflation: float = 1.2
    n_users: int = 20_000
    event_sample_fraction: float = 0.002
    touch_tracking_rate: float = 0.03
    ltv: LtvParams = field(default_factory=LtvParams)
    ltv_by_channel: tuple[tuple[str, LtvParams], ...] = DEFAULT_LTV_BY_CHANNEL

    def __post_init__(self) -> None:
        _resolve_geos(self)
        _validate_shape(self)
        _validate_baseline(self)
        _validate_events(self)
        _resolve_ltv_by_channel(self)
        if isinstance(self.lift_tests, _DefaultLiftTests):
            tests = default_lift_tests(self.geos, self.population, self.channels, self.n_weeks)
            object.__setattr__(self, "lift_tests", tests)
        _validate_lift_tests(self)

    @classmethod
    def national(cls, **overrides: Any) -> WorldParams:
        """A one-geo world labelled ``"national"`` (hence no geo lift tests)."""
        return cls(n_geos=1, **overrides)

    @property
    def kpi_name(self) -> str:
        """The KPI's column name: ``"revenue"`` or ``"conversions"``."""
        return self.kpi_type

    @property
    def kpi_value(self) -> float:
        """Currency value of one KPI unit: 1 for revenue, ``value_per_conversion`` otherwise."""
        return 1.0 if self.kpi_type == "revenue" else self.value_per_conversion

    @property
    def channel_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.channels)

    @property
    def population_share(self) -> tuple[float, ...]:
        total = sum(self.population)
        return tuple(p / total for p in self.population)

    def ltv_for(self, channel: str) -> LtvParams:
        """The customer parameters of ``channel`` (or :data:`ORGANIC`): its own, else ``ltv``."""
        return dict(self.ltv_by_channel).get(channel, self.ltv)

    @property
    def ltv_table(self) -> tuple[LtvParams, ...]:
        """Customer parameters per acquisition cause: the channels in order, then organic.

        Index it with a conversion's ``cause`` (channel index, ``-1`` organic).
        """
        return tuple(self.ltv_for(name) for name in (*self.channel_names, ORGANIC))


def _ltv_entry(where: str, value: object) -> LtvParams:
    """``value`` as :class:`LtvParams` (a mapping of its fields, as read from JSON, works)."""
    if isinstance(value, LtvParams):
        return value
    if not isinstance(value, Mapping):
        raise _fail(where, value, "LtvParams (or a mapping of r, alpha, a, b, p_shape, q, gamma)")
    unknown = sorted(set(value) - set(LtvParams.__dataclass_fields__))
    if unknown:
        raise _fail(where, unknown, "only the fields r, alpha, a, b, p_shape, q, gamma")
    try:
        return LtvParams(**value)
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}") from None


def _resolve_ltv_by_channel(p: WorldParams) -> None:
    """Check ``ltv_by_channel`` (a mapping or ``(name, LtvParams)`` pairs); store it as pairs."""
    raw: Any = p.ltv_by_channel
    if isinstance(raw, _DefaultLtvByChannel):
        raw = tuple(pair for pair in CHANNEL_LTV_PRESETS if pair[0] in p.channel_names)
    try:
        pairs = list(raw.items()) if isinstance(raw, Mapping) else [tuple(x) for x in raw]
    except TypeError:
        raise _fail("WorldParams.ltv_by_channel", raw, "a mapping channel -> LtvParams") from None
    allowed = (*p.channel_names, ORGANIC)
    seen: list[str] = []
    resolved: list[tuple[str, LtvParams]] = []
    for pair in pairs:
        if len(pair) != 2:
            raise _fail("WorldParams.ltv_by_channel", pair, "(channel, LtvParams) pairs")
        name, value = pair
        where = f"WorldParams.ltv_by_channel[{name!r}]"
        if name not in allowed:
            raise _fail(where, name, f"one of the channels {p.channel_names} or {ORGANIC!r}")
        if name in seen:
            raise _fail(where, name, "each channel at most once")
        seen.append(name)
        resolved.append((name, _ltv_entry(where, value)))
    object.__setattr__(p, "ltv_by_channel", tuple(resolved))


def _resolve_geos(p: WorldParams) -> None:
    """Fill in ``geos``/``population``/``n_geos`` (the frozen instance is still being built)."""
    if not isinstance(p.n_geos, int) or p.n_geos < 0:
        raise _fail("WorldParams.n_geos", p.n_geos, "a number of geos >= 1 (or 0: from geos)")
    if p.geos and p.n_geos not in (0, len(p.geos)):
        raise _fail(
            "WorldParams.n_geos",
            p.n_geos,
            f"{len(p.geos)} (len(geos)) or 0; pass geos=() to generate geos",
        )
    if not p.geos:
        if p.population:
            raise _fail("WorldParams.population", p.population, "() when geos are generated")
        geos, population = generated_geos(p.n_geos or DEFAULT_N_GEOS)
        object.__setattr__(p, "geos", geos)
        object.__setattr__(p, "population", population)
    object.__setattr__(p, "n_geos", len(p.geos))


def _validate_shape(p: WorldParams) -> None:
    if not p.geos or len(set(p.geos)) != len(p.geos):
        raise _fail("WorldParams.geos", p.geos, "at least one distinct geo name")
    if any(not g or g != g.strip() for g in p.geos):
        raise _fail("WorldParams.geos", p.geos, "non-empty names without surrounding spaces")
    if len(p.population) != len(p.geos):
        raise _fail("WorldParams.population", p.population, f"{len(p.geos)} values, one per geo")
    for g, pop in zip(p.geos, p.population, strict=True):
        _check_positive(f"WorldParams.population[{g!r}]", pop)
    if p.start.weekday() != 0:
        raise _fail("WorldParams.start", p.start.isoformat(), "a Monday (weeks start on Monday)")
    if not (8 <= p.n_weeks <= 520):
        raise _fail("WorldParams.n_weeks", p.n_weeks, "an integer in [8, 520]")
    names = [c.name for c in p.channels]
    if not names or len(set(names)) != len(names):
        raise _fail("WorldParams.channels", names, "at least one channel, names distinct")
    reserved = sorted(set(names) & {"date", "geo", "price", "holiday", *KPI_TYPES})
    if reserved:
        raise _fail("WorldParams.channels", reserved, "names that are not panel columns")
    if p.kpi_type not in KPI_TYPES:
        raise _fail("WorldParams.kpi_type", p.kpi_type, f"one of {KPI_TYPES}")
    if not (len(p.currency) == 3 and p.currency.isalpha() and p.currency.isupper()):
        raise _fail("WorldParams.currency", p.currency, "an ISO 4217 code such as 'USD'")


def _validate_baseline(p: WorldParams) -> None:
    for attr in ("intercept", "value_per_conversion", "reference_price"):
        _check_positive(f"WorldParams.{attr}", getattr(p, attr))
    if len(p.seasonality_cos) != len(p.seasonality_sin):
        raise _fail(
            "WorldParams.seasonality_sin", p.seasonality_sin, "as many terms as seasonality_cos"
        )
    amplitude = sum(
        abs(c) + abs(s) for c, s in zip(p.seasonality_cos, p.seasonality_sin, strict=True)
    )
    if amplitude >= 0.8:
        raise _fail(
            "WorldParams.seasonality_*",
            amplitude,
            "sum of |coefficients| < 0.8 (KPI must stay positive)",
        )
    if not (-0.5 < p.trend_per_year < 1):
        raise _fail("WorldParams.trend_per_year", p.trend_per_year, "a yearly growth in (-0.5, 1)")
    if p.trend_per_year * p.n_weeks / 52.1775 <= -0.8:
        raise _fail(
            "WorldParams.trend_per_year", p.trend_per_year, "a decline that keeps the KPI positive"
        )
    if not (math.isfinite(p.holiday_effect) and p.holiday_effect >= 0):
        raise _fail(
            "WorldParams.holiday_effect", p.holiday_effect, "a bump >= 0 (share of intercept)"
        )
    if not (math.isfinite(p.price_coefficient) and -5 < p.price_coefficient <= 0):
        raise _fail("WorldParams.price_coefficient", p.price_coefficient, "a number in (-5, 0]")
    _check_fraction("WorldParams.price_sd", p.price_sd, closed=True)
    _check_fraction("WorldParams.promo_rate", p.promo_rate, closed=True)
    if not (0 <= p.promo_depth < 0.9):
        raise _fail("WorldParams.promo_depth", p.promo_depth, "a price cut in [0, 0.9)")
    _check_fraction("WorldParams.spend_noise_cv", p.spend_noise_cv, closed=True)
    if not (0 <= p.noise_cv < 0.5):
        raise _fail("WorldParams.noise_cv", p.noise_cv, "a relative noise sd in [0, 0.5)")


def _validate_events(p: WorldParams) -> None:
    if p.n_users < len(p.geos) * 10:
        raise _fail(
            "WorldParams.n_users", p.n_users, f"at least 10 users per geo ({len(p.geos) * 10})"
        )
    if p.n_users > 5_000_000:
        raise _fail(
            "WorldParams.n_users", p.n_users, "at most 5,000,000 (keep the event log in memory)"
        )
    _check_fraction("WorldParams.event_sample_fraction", p.event_sample_fraction)
    _check_fraction("WorldParams.touch_tracking_rate", p.touch_tracking_rate)
    _check_positive("WorldParams.lift_se_inflation", p.lift_se_inflation)


def _validate_lift_tests(p: WorldParams) -> None:
    ids = [t.id for t in p.lift_tests]
    if len(set(ids)) != len(ids):
        raise _fail("WorldParams.lift_tests", ids, "distinct test ids")
    for test in p.lift_tests:
        where = f"WorldParams.lift_tests[{test.id!r}]"
        if test.channel not in p.channel_names:
            raise _fail(f"{where}.channel", test.channel, f"one of the channels {p.channel_names}")
        unknown = sorted(set(test.treatment_geos) - set(p.geos))
        if unknown:
            raise _fail(f"{where}.treatment_geos", unknown, f"geos among {p.geos}")
        if len(test.treatment_geos) >= len(p.geos):
            raise _fail(
                f"{where}.treatment_geos",
                test.treatment_geos,
                "fewer geos than the world has, so at least one control geo remains "
                "(a national world has no geo tests: pass lift_tests=())",
            )
        if test.start_week + test.n_weeks > p.n_weeks:
            raise _fail(
                f"{where}.start_week + n_weeks",
                test.start_week + test.n_weeks,
                f"<= n_weeks ({p.n_weeks})",
            )
