"""The spec file: what to model, as TOML.

A spec names the columns (or, for a workspace, the KPI, channel and control names) the
model-ready panel is built from::

    [data]
    date = "date"                 # the date column of a wide file (default "date")
    geo = "geo"                   # leave out for national data
    kpi = "revenue"
    kpi_type = "revenue"          # or "conversions"
    media = ["tv", "search"]      # spend columns / channel names
    impressions = ["tv_impressions", "search_impressions"]   # optional, one per channel
    controls = ["price", "promo"]
    population = "population"     # optional: each geo's population
    revenue_per_kpi = "aov"       # conversions KPIs only: a column name or a constant

Other top-level sections (``[model]``, ``[priors]`` ...) belong to later stages; they are
kept unparsed in :attr:`Spec.raw`. Unknown keys inside ``[data]`` are errors, so a typo
never silently falls back to a default.
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Literal, cast

from margin.errors import ConfigError

__all__ = ["KPI_TYPES", "DataSpec", "KpiType", "Spec", "dump_spec", "load_spec", "parse_spec"]

KpiType = Literal["revenue", "conversions"]
KPI_TYPES: tuple[KpiType, ...] = ("revenue", "conversions")
_DATA_KEYS = (
    "date",
    "geo",
    "kpi",
    "kpi_type",
    "media",
    "impressions",
    "controls",
    "population",
    "revenue_per_kpi",
)
_NAME_KEYS = ("date", "geo", "kpi", "population")
_LIST_KEYS = ("media", "impressions", "controls")


@dataclass(frozen=True, kw_only=True)
class DataSpec:
    """The ``[data]`` section: which columns (or workspace names) make the panel.

    Attributes:
        date: the date column of a wide file.
        geo: the geo column of a wide file; ``None`` means national data. For a
            workspace, any value keeps the geos apart and ``None`` sums them.
        kpi: the KPI column, or the workspace KPI name.
        kpi_type: ``revenue`` (money) or ``conversions`` (counts).
        media: spend columns (wide file) or channel names (workspace); non-empty, unique.
        impressions: impressions columns, one per media entry in the same order, or
            empty. For a workspace, a non-empty tuple asks for the spend table's
            impressions of each channel.
        controls: control columns / names.
        population: the column (workspace: control name) holding each geo's population.
        revenue_per_kpi: for ``conversions`` KPIs, a column (control name) with the
            value of one conversion, or a constant.
    """

    date: str = "date"
    geo: str | None = None
    kpi: str
    kpi_type: KpiType = "revenue"
    media: tuple[str, ...]
    impressions: tuple[str, ...] = ()
    controls: tuple[str, ...] = ()
    population: str | None = None
    revenue_per_kpi: str | float | None = None

    def __post_init__(self) -> None:
        for key in _NAME_KEYS:
            value = getattr(self, key)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ConfigError(f"data.{key} must be a non-empty column name; got {value!r}")
        if self.kpi_type not in KPI_TYPES:
            raise ConfigError(
                f"data.kpi_type {self.kpi_type!r} is not one of {list(KPI_TYPES)}; "
                "use 'revenue' for money KPIs and 'conversions' for counts"
            )
        for key in _LIST_KEYS:
            _check_names(key, getattr(self, key))
        if not self.media:
            raise ConfigError(
                "data.media is empty; list the spend columns (or channel names), "
                'e.g. media = ["tv", "search"]'
            )
        if self.impressions and len(self.impressions) != len(self.media):
            raise ConfigError(
                f"data.impressions has {len(self.impressions)} entries but data.media has "
                f"{len(self.media)} ({list(self.media)}); give one impressions column per "
                "channel, in the same order, or leave impressions out"
            )
        self._check_revenue_per_kpi()
        self._check_roles()

    def _check_revenue_per_kpi(self) -> None:
        value = self.revenue_per_kpi
        if value is None:
            return
        if self.kpi_type != "conversions":
            raise ConfigError(
                f"data.revenue_per_kpi is {value!r} but data.kpi_type is {self.kpi_type!r}; "
                "revenue_per_kpi converts conversions to revenue: set kpi_type = "
                '"conversions" or remove revenue_per_kpi'
            )
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ConfigError(
                f"data.revenue_per_kpi must be a column name or a number; got {value!r}"
            )
        if isinstance(value, str) and not value.strip():
            raise ConfigError("data.revenue_per_kpi is an empty name; give a column or a number")
        if not isinstance(value, str):
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(
                    f"data.revenue_per_kpi must be a positive finite number; got {value!r}"
                )
            object.__setattr__(self, "revenue_per_kpi", float(value))

    def _check_roles(self) -> None:
        roles: dict[str, str] = {}
        named: list[tuple[str, str | None]] = [
            ("date", self.date),
            ("geo", self.geo),
            ("kpi", self.kpi),
            ("population", self.population),
        ]
        if isinstance(self.revenue_per_kpi, str):
            named.append(("revenue_per_kpi", self.revenue_per_kpi))
        named += [(f"media[{i}]", n) for i, n in enumerate(self.media)]
        named += [(f"impressions[{i}]", n) for i, n in enumerate(self.impressions)]
        named += [(f"controls[{i}]", n) for i, n in enumerate(self.controls)]
        for role, name in named:
            if name is None:
                continue
            if name in roles:
                raise ConfigError(
                    f"{name!r} is used as data.{roles[name]} and as data.{role}; "
                    "each column has one role: rename or remove one of them"
                )
            roles[name] = role


def _check_names(key: str, names: tuple[str, ...]) -> None:
    if not isinstance(names, tuple) or not all(isinstance(n, str) and n.strip() for n in names):
        raise ConfigError(
            f'data.{key} must be a list of non-empty names; got {names!r}, e.g. {key} = ["a", "b"]'
        )
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"data.{key} repeats {repeated}; list each name once")


@dataclass(frozen=True)
class Spec:
    """A parsed spec file.

    Attributes:
        data: the ``[data]`` section.
        raw: every other top-level section, as parsed TOML (for later stages).
        source: where the spec came from (a path, or ``<dict>``); not part of the hash.
    """

    data: DataSpec
    raw: dict[str, Any] = field(default_factory=dict)
    source: str = field(default="<dict>", compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain data: ``data`` with its defaults filled in, and ``raw``."""
        data = asdict(self.data)
        for key in _LIST_KEYS:
            data[key] = list(data[key])
        return {"data": data, **self.raw}

    def hash(self) -> str:
        """SHA-256 (hex) of the canonical JSON of :meth:`to_dict`; identifies runs."""
        text = json.dumps(
            self.to_dict(),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
            default=_json_default,
        )
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _json_default(value: object) -> str:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__} in a spec")  # pragma: no cover


def load_spec(path: str | Path) -> Spec:
    """Read and validate a TOML spec file.

    Raises:
        ConfigError: the file is missing or not valid TOML (the line is named), or a key
            is missing, unknown or of the wrong type (the key is named).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise ConfigError(f"spec file {path} does not exist; check the path") from err
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"spec file {path} cannot be read as UTF-8 text: {err}") from err
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(
            f"spec file {path} is not valid TOML: {err}. Fix the syntax at that line "
            '(strings need quotes, lists look like ["a", "b"])'
        ) from err
    return parse_spec(raw, source=str(path))


def parse_spec(raw: dict[str, Any], source: str = "<dict>") -> Spec:
    """Validate a spec given as a dict (parsed TOML); ``source`` names it in errors."""
    if not isinstance(raw, dict):
        raise ConfigError(f"spec {source}: expected a table of sections; got {type(raw).__name__}")
    section = raw.get("data")
    if section is None:
        raise ConfigError(
            f"spec {source}: no [data] section; add one naming at least kpi and media, e.g.\n"
            '[data]\nkpi = "revenue"\nmedia = ["tv", "search"]'
        )
    if not isinstance(section, dict):
        raise ConfigError(f"spec {source}: 'data' must be a table ([data]); got {section!r}")
    unknown = sorted(set(section) - set(_DATA_KEYS))
    if unknown:
        raise ConfigError(
            f"spec {source}: unknown key(s) {unknown} in [data]; allowed keys: "
            f"{', '.join(_DATA_KEYS)}"
        )
    missing = [k for k in ("kpi", "media") if k not in section]
    if missing:
        raise ConfigError(
            f"spec {source}: [data] lacks required key(s) {missing}; add e.g. "
            'kpi = "revenue" and media = ["tv", "search"]'
        )
    kwargs: dict[str, Any] = {}
    for key, value in section.items():
        if key in _LIST_KEYS:
            if not isinstance(value, list):
                raise ConfigError(
                    f"spec {source}: data.{key} must be a list of names, e.g. "
                    f'{key} = ["a", "b"]; got {value!r}'
                )
            kwargs[key] = tuple(value)
        else:
            kwargs[key] = value
    try:
        data = DataSpec(**kwargs)
    except ConfigError as err:
        raise ConfigError(f"spec {source}: {err}") from err
    rest = {k: v for k, v in raw.items() if k != "data"}
    return Spec(data=data, raw=cast(dict[str, Any], _copy(rest)), source=source)


def _copy(value: Any) -> Any:
    """A deep copy of parsed TOML (dicts and lists), so later edits cannot leak in."""
    if isinstance(value, dict):
        return {str(k): _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def dump_spec(data: dict[str, Any]) -> str:
    """A spec file's text with ``data`` as its ``[data]`` section (checked by parsing it back).

    Values are strings, numbers or lists of strings; ``None`` values are left out.
    """
    lines = ["[data]"]
    for key, value in data.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int | float | list | tuple):
            raise ConfigError(
                f"data.{key}: cannot write {value!r} to a spec; use a string, number or list"
            )
        lines.append(f"{key} = {json.dumps(list(value) if isinstance(value, tuple) else value)}")
    text = "\n".join(lines) + "\n"
    parse_spec(tomllib.loads(text), source="<dump_spec>")
    return text
