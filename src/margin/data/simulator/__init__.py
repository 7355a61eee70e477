"""One causal world: a seeded simulator whose every view (spend, outcomes, events, lift
tests, customers) comes from the same known effects, so each margin method can be checked
against the truth.

The causal model (arrays ``(n_geos, n_times, n_channels)``; geo ``g`` has population
share ``s_g``; money in currency units per week):

1. **Spend.** A national weekly level per channel, split to geos by ``s_g`` with
   log-normal noise: TV flighted in on/off bursts, search always on and chasing demand
   (∝ the squared baseline index: a confounder), social and display seasonal, video
   sparse. Lift tests then multiply one channel's spend in treated geos for a few weeks
   (default: TV heavy-up of +$50k per geo-week, search go-dark); the recorded spend
   contains the tests.
2. **Media effect.** Normalised geometric adstock ``w_l = a^l / Σ_{k<L} a^k``
   (``l = 0..L-1``), then Hill saturation on adstocked spend per head:
   ``effect_gtc = beta_c · s_g · hill(adstock_gtc / s_g; K_c, slope_c)``.
3. **KPI.** ``E[KPI_gt] = baseline_gt + Σ_c effect_gtc`` with ``baseline_gt = intercept ·
   s_g · [(1 + trend · years)(1 + Fourier seasonality) + holiday_effect · holiday_gt +
   price_coefficient · (price_gt − reference_price)]``; observed = expected + Normal noise
   (sd ``noise_cv · intercept · s_g``), truncated positive. Revenue by default; a
   ``"conversions"`` KPI divides everything by ``value_per_conversion``.
4. **Truth** is computed from the noise-free expected KPI by counterfactual reruns:
   contribution (channel set to zero in every week), ROI, mROI (+1% spend), lift
   (test cells back at the plan, window plus carry-over weeks).
5. **Users.** A sample of users per geo receives touches ∝ impressions; conversions in the
   sample are Poisson with mean ``event_sample_fraction`` × the KPI decomposition (in
   conversions): organic ones to random users, caused ones to users touched by the
   causing channel within its adstock window, after the touch.
6. **Customers.** Converting users are customers acquired at their first conversion
   (by the causing channel or ``"organic"``); repeat purchases follow BG/NBD and amounts
   Gamma-Gamma (CDNOW-like defaults).
"""

from margin.data.simulator.customers import simulate_repeat_purchases
from margin.data.simulator.media import adstock_weights, geometric_adstock, hill, media_effects
from margin.data.simulator.outcomes import (
    baseline,
    channel_contributions,
    expected_kpi,
    marginal_roi,
    true_lift,
)
from margin.data.simulator.params import ChannelParams, LiftTestParams, LtvParams, WorldParams
from margin.data.simulator.world import World, WorldArrays, simulate_world
from margin.data.simulator.writer import write_world

__all__ = [
    "ChannelParams",
    "LiftTestParams",
    "LtvParams",
    "World",
    "WorldArrays",
    "WorldParams",
    "adstock_weights",
    "baseline",
    "channel_contributions",
    "expected_kpi",
    "geometric_adstock",
    "hill",
    "marginal_roi",
    "media_effects",
    "simulate_repeat_purchases",
    "simulate_world",
    "true_lift",
    "write_world",
]
