"""Rule-based, Markov and Shapley credits against naive references, and their intervals."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from margin.attribution import (
    HEURISTIC_MODELS,
    MODELS,
    ModelSettings,
    PathTable,
    attribute,
    read_paths,
)
from margin.attribution.markov import removal_effects, transitions_from_paths
from margin.attribution.paths import path_table_from_strings
from margin.attribution.shapley import coalitions_from_paths, shapley_attribution
from margin.errors import ConfigError

EXACT = 1e-12
FLOAT64 = 1e-9
CHANNELS = ("direct", "email", "search", "social", "tv")


def random_paths(seed: int, n: int = 300, max_len: int = 6) -> PathTable:
    rng = np.random.default_rng(seed)
    paths = [
        " > ".join(np.array(CHANNELS)[rng.integers(0, len(CHANNELS), rng.integers(1, max_len + 1))])
        for _ in range(n)
    ]
    conv = rng.poisson(1.0, n).astype(float)
    return path_table_from_strings(
        paths, conv, np.round(conv * rng.gamma(2.0, 10.0, n), 2), rng.poisson(3.0, n).astype(float)
    )


def paths_of(table: PathTable) -> list[list[str]]:
    names = list(table.channels)
    return [
        [names[c] for c in table.steps[table.offsets[i] : table.offsets[i + 1]]]
        for i in range(table.n_paths)
    ]


def naive_heuristic(table: PathTable, model: str, settings: ModelSettings) -> dict[str, float]:
    """Each path's credit, touch by touch, by the textbook definition."""
    credit = dict.fromkeys(table.channels, 0.0)
    first, middle, last = settings.position_weights
    for path, conv in zip(paths_of(table), table.conversions, strict=True):
        n = len(path)
        if model == "first_touch":
            weights = [1.0] + [0.0] * (n - 1)
        elif model == "last_touch":
            weights = [0.0] * (n - 1) + [1.0]
        elif model == "last_non_direct":
            idx = max((i for i, c in enumerate(path) if c != "direct"), default=n - 1)
            weights = [1.0 if i == idx else 0.0 for i in range(n)]
        elif model == "linear":
            weights = [1.0 / n] * n
        elif model == "time_decay":
            raw = [0.5 ** ((n - 1 - i) / settings.half_life_steps) for i in range(n)]
            weights = [r / sum(raw) for r in raw]
        elif n == 1:
            weights = [1.0]
        elif n == 2:
            weights = [first / (first + last), last / (first + last)]
        else:
            weights = [first] + [middle / (n - 2)] * (n - 2) + [last]
        for c, w in zip(path, weights, strict=True):
            credit[c] += w * conv
    return credit


@pytest.mark.parametrize("model", HEURISTIC_MODELS)
def test_heuristics_equal_naive_reference_and_sum_to_totals(model: str) -> None:
    table = random_paths(seed=0)
    settings = ModelSettings(position_weights=(0.3, 0.3, 0.4), half_life_steps=2.0, n_bootstrap=0)
    result = attribute(table, [model], settings)
    want = naive_heuristic(table, model, settings)
    credits = result.credits[model]
    for ch in table.channels:
        assert credits[ch].conversions == pytest.approx(want[ch], rel=FLOAT64, abs=EXACT)
    assert sum(c.conversions for c in credits.values()) == pytest.approx(table.conversions.sum())
    assert sum(c.value for c in credits.values()) == pytest.approx(table.value.sum())
    assert sum(c.share for c in credits.values()) == pytest.approx(1.0)


def naive_conversion_probability(table: PathTable, order: int, removed: int | None) -> float:
    """Absorption probability from a dense matrix of the chain, removed states to null."""
    counts = transitions_from_paths(table, order)
    n = len(counts.states)
    start, conv, null = n, n + 1, n + 2
    matrix = np.zeros((n + 3, n + 3))
    for f, t, k in zip(counts.flow_from, counts.flow_to, counts.flow, strict=True):
        matrix[start if f < 0 else f, t] += k
    matrix[:n, conv] += counts.conversions
    matrix[:n, null] += counts.nulls
    if removed is not None:
        for s, state in enumerate(counts.states):
            if removed in state:
                matrix[:, null] += matrix[:, s]
                matrix[:, s] = 0.0
                matrix[s] = 0.0
                matrix[s, null] = 1.0
    matrix[conv, conv] = matrix[null, null] = 1.0
    p = matrix / matrix.sum(axis=1, keepdims=True)
    return float(np.linalg.matrix_power(p, 4096)[start, conv])


@pytest.mark.parametrize("order", [1, 2])
def test_markov_removal_effects_equal_dense_absorbing_chain(order: int) -> None:
    table = random_paths(seed=1, n=120, max_len=4)
    counts = transitions_from_paths(table, order)
    effects, _, base, _ = removal_effects(counts, table.n_channels)
    assert base == pytest.approx(naive_conversion_probability(table, order, None), rel=FLOAT64)
    for c in range(table.n_channels):
        want = 1.0 - naive_conversion_probability(table, order, c) / base
        assert effects[c] == pytest.approx(want, rel=FLOAT64, abs=EXACT)


def test_markov_base_rate_is_the_observed_conversion_rate_and_credits_sum() -> None:
    table = random_paths(seed=2)
    _, _, base, value = removal_effects(transitions_from_paths(table), table.n_channels)
    journeys = table.conversions.sum() + table.nulls.sum()
    assert base == pytest.approx(table.conversions.sum() / journeys, rel=FLOAT64)
    assert value == pytest.approx(table.value.sum() / journeys, rel=FLOAT64)
    credits = attribute(table, ["markov"], ModelSettings(n_bootstrap=0)).credits["markov"]
    assert sum(c.conversions for c in credits.values()) == pytest.approx(table.conversions.sum())
    assert sum(c.value for c in credits.values()) == pytest.approx(table.value.sum())


def test_markov_single_channel_paths_credit_each_channel_its_conversions() -> None:
    table = path_table_from_strings(
        ["a", "b", "c"], [3.0, 5.0, 0.0], [30.0, 10.0, 0.0], [1.0, 1.0, 4.0]
    )
    credits = attribute(table, ["markov"], ModelSettings(n_bootstrap=0)).credits["markov"]
    assert credits["a"].conversions == pytest.approx(3.0)
    assert credits["b"].conversions == pytest.approx(5.0)
    assert credits["c"].conversions == pytest.approx(0.0, abs=EXACT)
    assert credits["a"].value == pytest.approx(30.0)


def naive_shapley(table: PathTable, prior: float) -> np.ndarray:
    """Shapley by averaging marginal contributions over every ordering of each coalition."""
    coal = coalitions_from_paths(table)
    total = coal.conversions + coal.nulls
    overall = coal.conversions.sum() / total.sum()
    rate = {
        int(m): (c + prior * overall) / (t + prior)
        for m, c, t in zip(coal.masks, coal.conversions, total, strict=True)
    }

    def worth(mask: int) -> float:
        return max([r for m, r in rate.items() if m & ~mask == 0] + [0.0])

    credit = np.zeros(table.n_channels)
    for mask, conv in zip(coal.masks, coal.conversions, strict=True):
        if conv == 0:
            continue
        members = [b for b in range(table.n_channels) if int(mask) >> b & 1]
        phi = dict.fromkeys(members, 0.0)
        orders = list(itertools.permutations(members))
        for ordering in orders:
            seen = 0
            for ch in ordering:
                phi[ch] += worth(seen | 1 << ch) - worth(seen)
                seen |= 1 << ch
        norm = sum(phi.values())
        for ch in members:
            credit[ch] += conv * phi[ch] / norm
    return credit


@pytest.mark.parametrize("prior", [0.0, 100.0])
def test_shapley_exact_equals_permutation_enumeration(prior: float) -> None:
    table = random_paths(seed=3, n=200, max_len=5)
    got, value = shapley_attribution(coalitions_from_paths(table), table.n_channels, prior=prior)
    np.testing.assert_allclose(got, naive_shapley(table, prior), rtol=FLOAT64)
    assert got.sum() == pytest.approx(table.conversions.sum())
    assert value.sum() == pytest.approx(table.value.sum())


def test_shapley_sampling_beyond_max_exact_is_close_to_exact() -> None:
    table = random_paths(seed=4, n=200, max_len=5)
    coal = coalitions_from_paths(table)
    exact, _ = shapley_attribution(coal, table.n_channels)
    sampled, _ = shapley_attribution(coal, table.n_channels, max_exact=2, permutations=4000, seed=1)
    assert sampled.sum() == pytest.approx(table.conversions.sum())
    np.testing.assert_allclose(sampled, exact, rtol=0.03, atol=0.5)  # Monte-Carlo tier


def test_intervals_bracket_points_and_are_reproducible() -> None:
    table = random_paths(seed=5, n=300)
    settings = ModelSettings(n_bootstrap=40, seed=7)
    first = attribute(table, MODELS, settings)
    again = attribute(table, MODELS, settings)
    assert first.to_dict()["models"] == again.to_dict()["models"]
    inside = total = 0
    for model in MODELS:
        for c in first.credits[model].values():
            assert c.p05 is not None
            assert c.p95 is not None
            assert c.p05 <= c.p95
            inside += c.p05 <= c.conversions <= c.p95
            total += 1
    assert inside >= 0.8 * total
    bare = attribute(table, ["linear"], ModelSettings(n_bootstrap=0)).credits["linear"]
    assert all(c.p05 is None for c in bare.values())


def test_markov_intervals_do_not_depend_on_the_order_of_the_moves() -> None:
    """The moves come from SQL in no set order; one seed must give one interval."""
    import dataclasses

    from margin.attribution.intervals import markov_draws

    table = random_paths(seed=3, n=200)
    counts = transitions_from_paths(table, 1)
    order = np.random.default_rng(0).permutation(counts.flow.size)
    shuffled = dataclasses.replace(
        counts, flow_from=counts.flow_from[order], flow_to=counts.flow_to[order],
        flow=counts.flow[order],
    )  # fmt: skip
    settings = ModelSettings(n_bootstrap=20, seed=4)
    n = len(table.channels)
    first = markov_draws(counts, n, 100.0, settings)
    again = markov_draws(shuffled, n, 100.0, settings)
    np.testing.assert_allclose(first, again, rtol=1e-12)


def test_output_contract() -> None:
    result = attribute(random_paths(seed=6), MODELS, ModelSettings(n_bootstrap=5))
    payload = result.to_dict()
    assert list(payload["models"]) == list(MODELS)
    entry = payload["models"]["markov"]["email"]
    assert set(entry) == {"conversions", "value", "share", "p05", "p95"}
    assert payload["markov_order"] == 1
    assert "correlational" in payload["note"]


def test_bad_settings_and_models_are_refused() -> None:
    with pytest.raises(ConfigError, match="sum to 1"):
        ModelSettings(position_weights=(0.5, 0.5, 0.5))
    with pytest.raises(ConfigError, match="unknown model"):
        attribute(random_paths(seed=0), ["magic"])
    with pytest.raises(ConfigError, match="order"):
        ModelSettings(order=0)


@pytest.mark.shared_data
def test_markov_on_channelattribution_data(shared_data: Path) -> None:
    """Exact removal effects on ChannelAttribution's Data.csv; its simulated ones
    (markov_model, order 1, with nulls: bench/attribution_channelattribution.py) differ
    by a few percent."""
    table = read_paths(shared_data / "channelattribution" / "Data.csv")
    result = attribute(table, ["markov"], ModelSettings(n_bootstrap=0))
    effects = {k: v["conversions"] for k, v in result.removal_effects.items()}
    channel_attribution = {"alpha": 0.5587, "eta": 0.3489, "iota": 0.3957, "beta": 0.2660}
    for ch, theirs in channel_attribution.items():
        assert math.isclose(effects[ch], theirs, rel_tol=0.05), (ch, effects[ch], theirs)
