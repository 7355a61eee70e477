"""Customer value as the KPI: an MMM counting new customers, each channel's valued at the
value of the customers it acquires (``MMMResponse.with_channel_values``,
``margin.ltv.channels.value_draws``, ``margin optimize --customer-value``)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from _cli import margin, words
from margin.errors import ConfigError
from margin.ltv.channels import value_draws
from margin.mmm.response import MMMResponse, load_response

FLOAT32 = 2e-5
"""Relative tolerance of the model's float32 programs."""


def by_channel(
    channels: list[str], means: list[float], organic: float | None = None
) -> dict[str, Any]:
    """A ``by_channel.json`` body: each channel's value mean with a ±10% interval."""
    body = {
        name: {"value": {"mean": m, "p05": 0.9 * m, "p95": 1.1 * m}, "customers": 100,
               "horizon_weeks": 52.0, "currency": "USD"}
        for name, m in zip(channels, means, strict=True)
    }  # fmt: skip
    if organic is not None:
        body["organic"] = {"value": {"mean": organic, "p05": organic, "p95": organic},
                           "customers": 5000, "horizon_weeks": 52.0, "currency": "USD"}  # fmt: skip
    return body


@pytest.fixture(scope="module")
def model(fitted_run_dir: Path) -> MMMResponse:
    return load_response(fitted_run_dir, max_draws=100)


def test_each_channels_kpi_is_valued_at_its_own_customers_worth(model: MMMResponse) -> None:
    quiet = replace(model, history=np.zeros_like(model.history))  # no carry-over from history
    rng = np.random.default_rng(0)
    values = rng.uniform(20, 200, (model.n_draws, len(model.channels)))
    valued = quiet.with_channel_values(values, 15.0, "customer value (52 weeks)")
    spend = rng.uniform(1e3, 5e4, (len(model.geos), 6, len(model.channels)))
    expected = np.zeros((model.n_draws, len(model.geos), 6))
    for c in range(len(model.channels)):  # the model is additive over channels
        alone = np.zeros_like(spend)
        alone[..., c] = spend[..., c]
        expected += values[:, c, None, None] * quiet.media_kpi(alone)
    np.testing.assert_allclose(valued.media_kpi(spend), expected, rtol=FLOAT32 * 10)
    assert valued.kpi_value == 1.0
    assert valued.kpi_name == "customer value (52 weeks)"
    np.testing.assert_allclose(valued.baseline_kpi(4), 15.0 * quiet.baseline_kpi(4), rtol=FLOAT32)
    np.testing.assert_allclose(valued.observation_sd(), 15.0 * quiet.observation_sd())
    # the gradient is the valued model's: a constant value k scales it by k
    flat = quiet.with_channel_values(np.full(values.shape, 3.0), 1.0, "x")
    weights = np.full(model.n_draws, 1 / model.n_draws)
    np.testing.assert_allclose(
        flat.media_kpi_gradient(spend, weights),
        3.0 * quiet.media_kpi_gradient(spend, weights),
        rtol=FLOAT32 * 10,
    )


def test_bad_channel_values_are_refused(model: MMMResponse) -> None:
    n, k = model.n_draws, len(model.channels)
    with pytest.raises(ConfigError, match=r"shape \(3, 2\); expected \(n_draws="):
        model.with_channel_values(np.ones((3, 2)), 1.0, "x")
    with pytest.raises(ConfigError, match="finite and >= 0"):
        model.with_channel_values(np.full((n, k), -1.0), 1.0, "x")
    with pytest.raises(ConfigError, match="baseline_value"):
        model.with_channel_values(np.ones((n, k)), float("nan"), "x")


def test_value_draws_match_each_channels_interval_and_the_organic_value() -> None:
    body = by_channel(["Search", "tv"], [100.0, 40.0], organic=12.0)
    values, baseline, horizon = value_draws(body, ("search", "TV"), 4000, seed=1)
    assert values.shape == (4000, 2)
    assert values.mean(axis=0) == pytest.approx([100.0, 40.0], rel=0.01)
    np.testing.assert_allclose(np.quantile(values, [0.05, 0.95], axis=0).T,
                               [[90.0, 110.0], [36.0, 44.0]], rtol=0.01)  # fmt: skip
    assert baseline == 12.0
    assert horizon == 52.0
    _, pooled, _ = value_draws(by_channel(["a", "b"], [10.0, 30.0]), ("a",), 10)
    assert pooled == 20.0  # no organic label: the customer-weighted mean
    with pytest.raises(ConfigError, match=r"no value for channel\(s\) \['video'\]"):
        value_draws(body, ("search", "video"), 10)
    with pytest.raises(ConfigError, match=r"not a by_channel\.json body"):
        value_draws({"search": {"value": 3}}, ("search",), 10)


def test_optimize_plans_in_customer_value(fitted_run_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(fitted_run_dir, run)
    channels = list(load_response(run, max_draws=10).channels)
    values = tmp_path / "ltv"
    values.mkdir()
    (values / "by_channel.json").write_text(
        json.dumps(by_channel(channels, [80.0, 30.0, 150.0][: len(channels)], organic=20.0))
    )
    refused = margin("optimize", "--run", str(run), "--customer-value", str(values))
    assert refused.returncode == 2, refused.stdout
    assert "this run's KPI 'revenue' is revenue" in words(refused.stderr)
    summary = json.loads((run / "summary.json").read_text())
    summary["kpi"]["type"] = "conversions"  # the same fit, read as counting new customers
    (run / "summary.json").write_text(json.dumps(summary))
    done = margin(
        "optimize", "--run", str(run), "--customer-value", str(values), "--weeks", "8",
        "--max-draws", "100", "--out", str(tmp_path / "plan.json"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    said = words(done.stdout)
    assert "valued at the value of a customer it acquires over 52 weeks" in said
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert plan["kpi_value"] == 1.0
    assert plan["valued_as"] == "customer value (52 weeks)"
    assert "conversions" not in said  # the plan is in money (lifetime value), not customers
