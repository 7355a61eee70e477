"""Journeys from events (SQL on DuckDB) against a naive Python reference, and path files."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from margin.attribution import (
    JourneySettings,
    collapse_repeats,
    journeys_from_file,
    journeys_from_table,
    read_paths,
)
from margin.attribution.markov import transitions_from_paths
from margin.attribution.paths import PathTable
from margin.attribution.shapley import coalitions_from_paths
from margin.errors import DataValidationError

WriteFile = Callable[[str, str | bytes], Path]
FLOAT64 = 1e-9
"""Sums of floats in another order agree to this relative tolerance."""
HOUR = pd.Timedelta(hours=1)
CHANNELS = ("direct", "email", "search", "social")


def random_events(seed: int, n_users: int = 150, n_events: int = 1500) -> pd.DataFrame:
    """Events on whole hours (so timestamps tie) over 120 days, 15 % conversions."""
    rng = np.random.default_rng(seed)
    conversion = rng.random(n_events) < 0.15
    return pd.DataFrame(
        {
            "user_key": [f"u{i}" for i in rng.integers(0, n_users, n_events)],
            "ts": pd.Timestamp("2024-01-01") + rng.integers(0, 120 * 24, n_events) * HOUR,
            "channel": np.where(conversion, None, np.array(CHANNELS)[rng.integers(0, 4, n_events)]),
            "campaign": np.where(
                conversion, None, np.array(["a", "b"])[rng.integers(0, 2, n_events)]
            ),
            "event": np.where(conversion, "conversion", "touch"),
            "value": np.where(conversion, np.round(rng.gamma(2.0, 20.0, n_events), 2), 0.0),
        }
    )


@dataclass
class Journey:
    labels: list[str]
    times: list[pd.Timestamp]
    converted: bool
    value: float


def naive_journeys(events: pd.DataFrame, settings: JourneySettings) -> list[Journey]:
    """The journey definition of :class:`JourneySettings`, one user and one event at a time."""
    lookback = pd.Timedelta(days=settings.lookback_days)
    by_user: dict[str, list[tuple[pd.Timestamp, int, str, float]]] = defaultdict(list)
    for row in events.itertuples():
        is_conv = row.event == "conversion"
        if settings.drop_direct and not is_conv and row.channel in settings.direct_channels:
            continue
        label = row.channel if settings.level == "channel" else f"{row.channel} / {row.campaign}"
        by_user[row.user_key].append((row.ts, int(is_conv), "" if is_conv else label, row.value))
    out: list[Journey] = []

    def chunks(touches: list[tuple[pd.Timestamp, int, str, float]]) -> None:
        current: list[tuple[pd.Timestamp, int, str, float]] = []
        for t in touches:
            if current and t[0] - current[-1][0] > lookback:
                out.append(Journey([c[2] for c in current], [c[0] for c in current], False, 0.0))
                current = []
            current.append(t)
        if current:
            out.append(Journey([c[2] for c in current], [c[0] for c in current], False, 0.0))

    for rows in by_user.values():
        rows.sort(key=lambda r: (r[0], r[1], r[2] if not r[1] else "\uffff", r[3]))
        segment: list[tuple[pd.Timestamp, int, str, float]] = []
        for r in rows:
            if not r[1]:
                segment.append(r)
                continue
            inside = [t for t in segment if t[0] >= r[0] - lookback]
            chunks([t for t in segment if t[0] < r[0] - lookback])
            if inside:
                out.append(Journey([t[2] for t in inside], [t[0] for t in inside], True, r[3]))
            segment = []
        chunks(segment)
    if settings.collapse_repeats:
        for j in out:
            keep = [i for i in range(len(j.labels)) if i == 0 or j.labels[i] != j.labels[i - 1]]
            j.labels = [j.labels[i] for i in keep]
            j.times = [j.times[i] for i in keep]
    return out


def path_counts(journeys: list[Journey]) -> dict[tuple[str, ...], tuple[float, float, float]]:
    counts: dict[tuple[str, ...], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for j in journeys:
        c = counts[tuple(j.labels)]
        c[0] += j.converted
        c[1] += j.value
        c[2] += not j.converted
    return {k: (v[0], v[1], v[2]) for k, v in counts.items()}


def table_counts(table: PathTable) -> dict[tuple[str, ...], tuple[float, float, float]]:
    names = np.array(table.channels, dtype=object)
    return {
        tuple(names[table.steps[table.offsets[i] : table.offsets[i + 1]]]): (
            float(table.conversions[i]),
            float(table.value[i]),
            float(table.nulls[i]),
        )
        for i in range(table.n_paths)
    }


def assert_same_counts(got: dict, want: dict) -> None:  # type: ignore[type-arg]
    assert got.keys() == want.keys()
    for key, (conv, value, nulls) in want.items():
        assert got[key][0] == conv, key
        assert got[key][2] == nulls, key
        assert got[key][1] == pytest.approx(value, rel=FLOAT64, abs=1e-9), key


def test_hand_example_lookback_several_conversions_and_leftovers() -> None:
    day = pd.Timedelta(days=1)
    t0 = pd.Timestamp("2024-03-01")
    rows = [
        ("u1", t0, "search", "touch", 0.0),
        ("u1", t0 + 20 * day, "email", "touch", 0.0),  # 42 days before the conversion
        ("u1", t0 + 60 * day, "social", "touch", 0.0),
        ("u1", t0 + 61 * day, "search", "touch", 0.0),
        ("u1", t0 + 62 * day, None, "conversion", 50.0),  # tied in time: the smaller value
        ("u1", t0 + 62 * day, None, "conversion", 10.0),  # comes first and takes the touches
        ("u1", t0 + 63 * day, "direct", "touch", 0.0),
        ("u1", t0 + 99 * day, "direct", "touch", 0.0),  # 36 days later: a new journey
        ("u2", t0, "direct", "touch", 0.0),
        ("u2", t0, None, "conversion", 5.0),  # a touch at the same time comes first
    ]
    events = pd.DataFrame(rows, columns=["user_key", "ts", "channel", "event", "value"])
    agg = journeys_from_table(events, journey=JourneySettings(lookback_days=30))
    assert table_counts(agg.paths) == {
        ("social", "search"): (1.0, 10.0, 0.0),
        ("search", "email"): (0.0, 0.0, 1.0),  # left over, 20 days apart: one journey
        ("direct",): (1.0, 5.0, 2.0),  # u2 converts; u1's last two touches do not
    }
    assert agg.totals is not None
    assert agg.totals.conversions == 3
    assert agg.totals.unattributed_conversions == 1
    assert agg.totals.unattributed_value == pytest.approx(50.0)


@pytest.mark.parametrize(
    "settings",
    [
        JourneySettings(lookback_days=30),
        JourneySettings(lookback_days=7, collapse_repeats=True),
        JourneySettings(lookback_days=14, drop_direct=True, level="campaign"),
    ],
    ids=["default", "collapse", "campaign-no-direct"],
)
def test_paths_match_naive_reference(settings: JourneySettings) -> None:
    events = random_events(seed=1)
    agg = journeys_from_table(events, journey=settings)
    want = path_counts(naive_journeys(events, settings))
    assert_same_counts(table_counts(agg.paths), want)


def test_time_decay_shares_match_naive_reference() -> None:
    events = random_events(seed=2)
    settings = JourneySettings(lookback_days=30)
    agg = journeys_from_table(events, journey=settings, half_life_days=3.0)
    sums: dict[tuple[str, ...], np.ndarray] = {}
    value_sums: dict[tuple[str, ...], np.ndarray] = {}
    for j in naive_journeys(events, settings):
        if not j.converted:
            continue
        age = np.array([(j.times[-1] - t) / pd.Timedelta(days=3) for t in j.times])
        w = 0.5**age / (0.5**age).sum()
        key = tuple(j.labels)
        sums[key] = sums.get(key, 0) + w
        value_sums[key] = value_sums.get(key, 0) + j.value * w
    table = agg.paths
    assert table.decay is not None
    assert table.decay_value is not None
    names = np.array(table.channels, dtype=object)
    for i in range(table.n_paths):
        key = tuple(names[table.steps[table.offsets[i] : table.offsets[i + 1]]])
        got = table.decay[table.offsets[i] : table.offsets[i + 1]] * table.conversions[i]
        want = sums.get(key, np.zeros(len(key)))
        np.testing.assert_allclose(got, want, rtol=FLOAT64, atol=1e-12)
        if table.value[i] > 0:
            got_v = table.decay_value[table.offsets[i] : table.offsets[i + 1]] * table.value[i]
            np.testing.assert_allclose(got_v, value_sums[key], rtol=FLOAT64, atol=1e-9)


@pytest.mark.parametrize("order", [1, 2, 3])
def test_sql_transition_and_coalition_counts_equal_path_derived(order: int) -> None:
    agg = journeys_from_table(random_events(seed=3), order=order)
    sql_counts = agg.transitions
    assert sql_counts is not None
    assert agg.coalitions is not None
    ref = transitions_from_paths(agg.paths, order)

    def moves(c: object) -> dict[tuple[object, object], float]:
        from margin.attribution.markov import TransitionCounts

        assert isinstance(c, TransitionCounts)
        name = [*c.states]
        return {
            (None if f < 0 else name[f], name[t]): n
            for f, t, n in zip(c.flow_from, c.flow_to, c.flow, strict=True)
        }

    def exits(c: object) -> dict[object, tuple[float, float, float]]:
        from margin.attribution.markov import TransitionCounts

        assert isinstance(c, TransitionCounts)
        return {
            s: (c.conversions[i], round(c.value[i], 6), c.nulls[i])
            for i, s in enumerate(c.states)
            if c.conversions[i] or c.nulls[i]
        }

    assert moves(sql_counts) == moves(ref)
    assert exits(sql_counts) == exits(ref)
    coal = coalitions_from_paths(agg.paths)
    got = dict(
        zip(
            agg.coalitions.masks.tolist(),
            zip(agg.coalitions.conversions, agg.coalitions.nulls, strict=True),
            strict=True,
        )
    )
    assert got == dict(
        zip(coal.masks.tolist(), zip(coal.conversions, coal.nulls, strict=True), strict=True)
    )


def test_events_file_errors_name_rows(write_file: WriteFile) -> None:
    text = (
        "user_key,ts,channel,event,value\n"
        "u1,2024-01-01 10:00:00,search,touch,0\n"
        "u1,yesterday,search,touch,0\n"
        "u1,2024-01-02 10:00:00,,click,0\n"
        "u2,2024-01-03 10:00:00,,conversion,-5\n"
    )
    with pytest.raises(DataValidationError) as err:
        journeys_from_file(write_file("bad.csv", text))
    message = str(err.value)
    assert "row 2: 'yesterday'" in message
    assert "row 3: 'click'" in message
    assert "row 4: '-5.0'" in message
    assert "negative value" in message


def test_events_file_missing_columns(write_file: WriteFile) -> None:
    with pytest.raises(
        DataValidationError, match=r"missing required column\(s\) \['channel', 'event'\]"
    ):
        journeys_from_file(write_file("e.csv", "user_key,ts\nu1,2024-01-01\n"))


def test_events_parquet_file_gives_the_same_paths(tmp_path: Path) -> None:
    events = random_events(seed=4)
    path = tmp_path / "events.parquet"
    events.to_parquet(path)
    from_file = journeys_from_file(path)
    from_frame = journeys_from_table(events)
    assert_same_counts(table_counts(from_file.paths), table_counts(from_frame.paths))


def test_read_paths_channelattribution_layout(shared_data: Path) -> None:
    table = read_paths(shared_data / "channelattribution" / "Data.csv")
    raw = pd.read_csv(shared_data / "channelattribution" / "Data.csv", sep=";")
    assert table.conversions.sum() == raw["total_conversions"].sum()
    assert table.nulls.sum() == raw["total_null"].sum()
    assert table.value.sum() == pytest.approx(raw["total_conversion_value"].sum(), rel=FLOAT64)
    assert table.channels[0] == "alpha"
    strings = set(table.path_strings())
    assert raw["path"].iloc[0] in strings


def test_read_paths_merges_equal_paths_and_collapses(write_file: WriteFile) -> None:
    text = "path,total_conversions,total_null\na > a > b,1,2\na>b,3,0\nb,0,1\n"
    table = read_paths(write_file("p.csv", text))
    assert table_counts(table) == {
        ("a", "a", "b"): (1.0, 0.0, 2.0),
        ("a", "b"): (3.0, 0.0, 0.0),
        ("b",): (0.0, 0.0, 1.0),
    }
    assert table_counts(collapse_repeats(table)) == {
        ("a", "b"): (4.0, 0.0, 2.0),
        ("b",): (0.0, 0.0, 1.0),
    }


def test_read_paths_rejects_blank_steps_and_negative_counts(write_file: WriteFile) -> None:
    with pytest.raises(DataValidationError, match=r"row 2: 'a > > b'"):
        read_paths(write_file("p.csv", "path,total_conversions\na,1\na > > b,1\n"))
    with pytest.raises(DataValidationError, match="negative"):
        read_paths(write_file("q.csv", "path,total_conversions,total_null\na,1,-1\n"))
