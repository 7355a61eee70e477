"""Customer value: summaries, models of repeat buying and spend, value by channel, exports.

Models, fitted by weighted maximum likelihood in JAX (float64) with Laplace intervals on
the log scale (:mod:`~margin.ltv.mle`):

- BG/NBD (:mod:`~margin.ltv.bgnbd`) and Pareto/NBD (:mod:`~margin.ltv.pareto_nbd`):
  repeat buying and dropout; P(alive), expected transactions;
- Gamma-Gamma (:mod:`~margin.ltv.gamma_gamma`): spend per transaction;
- shifted-beta-geometric (:mod:`~margin.ltv.sbg`): subscription retention from cohort counts;
- customer value over a horizon (:mod:`~margin.ltv.value`) and the holdout check
  (:mod:`~margin.ltv.holdout`).

Importing this package imports no JAX: its names load their modules on first use (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from margin.exports import lazy_exports

if TYPE_CHECKING:
    from margin.ltv.bgnbd import fit_bgnbd
    from margin.ltv.gamma_gamma import fit_gamma_gamma
    from margin.ltv.hierarchical import fit_bgnbd_hierarchical, fit_gamma_gamma_hierarchical
    from margin.ltv.holdout import holdout_check
    from margin.ltv.inputs import collapse_rows
    from margin.ltv.pareto_nbd import fit_pareto_nbd
    from margin.ltv.results import (
        HoldoutCheck,
        LtvFit,
        LtvFitError,
        ParamEstimate,
        Predictions,
    )
    from margin.ltv.sbg import fit_sbg
    from margin.ltv.value import customer_value, new_customer_value

__all__ = [
    "HoldoutCheck",
    "LtvFit",
    "LtvFitError",
    "ParamEstimate",
    "Predictions",
    "collapse_rows",
    "customer_value",
    "fit_bgnbd",
    "fit_bgnbd_hierarchical",
    "fit_gamma_gamma",
    "fit_gamma_gamma_hierarchical",
    "fit_pareto_nbd",
    "fit_sbg",
    "holdout_check",
    "new_customer_value",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "margin.ltv.bgnbd": ("fit_bgnbd",),
        "margin.ltv.gamma_gamma": ("fit_gamma_gamma",),
        "margin.ltv.hierarchical": ("fit_bgnbd_hierarchical", "fit_gamma_gamma_hierarchical"),
        "margin.ltv.holdout": ("holdout_check",),
        "margin.ltv.inputs": ("collapse_rows",),
        "margin.ltv.pareto_nbd": ("fit_pareto_nbd",),
        "margin.ltv.results": (
            "HoldoutCheck",
            "LtvFit",
            "LtvFitError",
            "ParamEstimate",
            "Predictions",
        ),
        "margin.ltv.sbg": ("fit_sbg",),
        "margin.ltv.value": ("customer_value", "new_customer_value"),
    },
)
