"""The spec file: parsing, defaults, validation errors and the hash."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from margin.data.panel.spec import DataSpec, Spec, load_spec, parse_spec
from margin.errors import ConfigError

FULL = """
[data]
date = "week"
geo = "region"
kpi = "orders"
kpi_type = "conversions"
media = ["tv", "search"]
impressions = ["tv_impressions", "search_impressions"]
controls = ["price"]
population = "population"
revenue_per_kpi = "aov"

[model]
adstock = "geometric"
start = 2024-01-01

[priors.tv]
roi = [1.0, 0.5]
"""


def write(tmp_path: Path, text: str, name: str = "spec.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def minimal(**data: object) -> dict[str, object]:
    return {"data": {"kpi": "revenue", "media": ["tv"], **data}}


def test_minimal_spec_takes_defaults() -> None:
    spec = parse_spec(minimal())
    assert spec.data == DataSpec(kpi="revenue", media=("tv",))
    assert spec.data.date == "date"
    assert spec.data.geo is None
    assert spec.data.kpi_type == "revenue"
    assert spec.data.impressions == ()
    assert spec.data.controls == ()
    assert spec.raw == {}
    assert spec.source == "<dict>"


def test_full_file_parses_every_key_and_keeps_other_sections(tmp_path: Path) -> None:
    path = write(tmp_path, FULL)
    spec = load_spec(path)
    data = spec.data
    assert (data.date, data.geo, data.kpi, data.kpi_type) == (
        "week",
        "region",
        "orders",
        "conversions",
    )
    assert data.media == ("tv", "search")
    assert data.impressions == ("tv_impressions", "search_impressions")
    assert data.controls == ("price",)
    assert (data.population, data.revenue_per_kpi) == ("population", "aov")
    assert spec.raw["model"]["adstock"] == "geometric"
    assert spec.raw["priors"] == {"tv": {"roi": [1.0, 0.5]}}
    assert "data" not in spec.raw
    assert spec.source == str(path)


def test_spec_is_frozen() -> None:
    spec = parse_spec(minimal())
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.data.kpi = "other"  # type: ignore[misc]


def test_constant_revenue_per_kpi_becomes_float() -> None:
    spec = parse_spec(minimal(kpi_type="conversions", revenue_per_kpi=40))
    assert spec.data.revenue_per_kpi == 40.0
    assert isinstance(spec.data.revenue_per_kpi, float)


def test_hash_is_stable_and_ignores_the_source(tmp_path: Path) -> None:
    from_file = load_spec(write(tmp_path, FULL))
    again = load_spec(write(tmp_path, FULL, "copy.toml"))
    assert from_file.hash() == again.hash()
    assert len(from_file.hash()) == 64
    as_dict = parse_spec(minimal())
    assert as_dict.hash() == parse_spec(minimal(), source="elsewhere").hash()


def test_hash_ignores_key_order_and_explicit_defaults() -> None:
    explicit = parse_spec(minimal(date="date", kpi_type="revenue"))
    assert explicit.hash() == parse_spec(minimal()).hash()
    reordered = parse_spec({"data": {"media": ["tv"], "kpi": "revenue"}})
    assert reordered.hash() == parse_spec(minimal()).hash()


def test_hash_changes_with_any_setting() -> None:
    base = parse_spec(minimal()).hash()
    assert parse_spec(minimal(controls=["price"])).hash() != base
    assert parse_spec(minimal(media=["tv", "search"])).hash() != base
    assert parse_spec({**minimal(), "model": {"adstock": "weibull"}}).hash() != base


def test_to_dict_round_trips() -> None:
    spec = parse_spec({**minimal(controls=["price"]), "model": {"draws": 1000}})
    again = parse_spec(spec.to_dict())
    assert again == spec
    assert again.hash() == spec.hash()


def test_raw_is_a_copy() -> None:
    raw = {**minimal(), "model": {"draws": [1, 2]}}
    spec = parse_spec(raw)
    raw["model"]["draws"].append(3)  # type: ignore[index]
    assert spec.raw["model"]["draws"] == [1, 2]


def test_spec_object_can_be_built_directly() -> None:
    spec = Spec(DataSpec(kpi="sales", media=("tv",)))
    assert spec.raw == {}
    with pytest.raises(ConfigError, match=r"data\.media is empty"):
        DataSpec(kpi="sales", media=())


# -- file errors ---------------------------------------------------------------------------
def test_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError, match=r"absent\.toml does not exist"):
        load_spec(path)


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[data]\nkpi = "revenue"\nmedia = [tv]\n')
    with pytest.raises(ConfigError, match=r"spec\.toml is not valid TOML.*line 3") as info:
        load_spec(path)
    assert str(path) in str(info.value)
    assert info.value.__cause__ is not None


def test_no_data_section(tmp_path: Path) -> None:
    path = write(tmp_path, '[model]\nadstock = "geometric"\n')
    with pytest.raises(ConfigError, match=r"no \[data\] section") as info:
        load_spec(path)
    assert str(path) in str(info.value)


def test_data_must_be_a_table() -> None:
    with pytest.raises(ConfigError, match="'data' must be a table"):
        parse_spec({"data": "revenue"})


def test_unknown_key_lists_the_allowed_ones(tmp_path: Path) -> None:
    path = write(tmp_path, '[data]\nkpi = "revenue"\nmedia = ["tv"]\nchanels = ["x"]\n')
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['chanels'\]") as info:
        load_spec(path)
    message = str(info.value)
    assert str(path) in message
    for key in ("date", "geo", "kpi", "kpi_type", "media", "impressions", "controls"):
        assert key in message


@pytest.mark.parametrize("absent", ["kpi", "media"])
def test_required_keys(absent: str) -> None:
    raw = minimal()
    del raw["data"][absent]  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match=rf"lacks required key\(s\) \['{absent}'\]"):
        parse_spec(raw, source="my.toml")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"media": "tv"}, r"data\.media must be a list"),
        ({"media": []}, r"data\.media is empty"),
        ({"media": ["tv", "tv"]}, r"data\.media repeats \['tv'\]"),
        ({"media": ["tv", ""]}, r"data\.media must be a list of non-empty names"),
        ({"media": ["tv", 3]}, r"data\.media must be a list of non-empty names"),
        ({"controls": ["price", "price"]}, r"data\.controls repeats"),
        ({"impressions": ["a", "b"]}, r"data\.impressions has 2 entries but data\.media has 1"),
        ({"kpi": 3}, r"data\.kpi must be a non-empty column name"),
        ({"geo": ""}, r"data\.geo must be a non-empty column name"),
        ({"kpi_type": "profit"}, r"data\.kpi_type 'profit' is not one of"),
        ({"revenue_per_kpi": "aov"}, r"revenue_per_kpi is 'aov' but data\.kpi_type is 'revenue'"),
        ({"kpi_type": "conversions", "revenue_per_kpi": -2.0}, r"positive finite number"),
        ({"kpi_type": "conversions", "revenue_per_kpi": True}, r"a column name or a number"),
        ({"kpi_type": "conversions", "revenue_per_kpi": ""}, r"empty name"),
        ({"controls": ["revenue"]}, r"'revenue' is used as data\.kpi and as data\.controls\[0\]"),
        ({"media": ["date"]}, r"'date' is used as data\.date and as data\.media\[0\]"),
    ],
)
def test_invalid_values_name_the_key_and_the_source(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        parse_spec(minimal(**data), source="bad.toml")
    assert "bad.toml" in str(info.value)


def test_errors_from_a_file_name_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[data]\nkpi = "revenue"\nmedia = ["tv", "tv"]\n')
    with pytest.raises(ConfigError, match=r"data\.media repeats") as info:
        load_spec(path)
    assert str(path) in str(info.value)
