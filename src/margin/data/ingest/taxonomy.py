"""Channel taxonomy: harmonised channel names and campaign → channel rules.

A taxonomy file is TOML::

    [aliases]                 # any spelling → the channel's name in margin
    "Facebook" = "meta"
    "Paid Search" = "search"

    [[rules]]                 # tried in order; the first match wins
    match = "(?i)brand|generic"   # a regular expression, searched in the field
    channel = "search"
    field = "campaign"        # "campaign" (default) or "channel"

Channel names are harmonised to lower case with ``_`` for spaces and dashes, so
"Paid Social" and "paid-social" are one channel.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from margin.errors import ConfigError

__all__ = ["Rule", "Taxonomy", "load_taxonomy", "normalize_channel"]

_FIELDS = ("campaign", "channel")


def normalize_channel(name: str) -> str:
    """Harmonise a channel name: ``"Paid Social"`` → ``"paid_social"``."""
    return re.sub(r"[\s\-/]+", "_", name.strip().lower()).strip("_")


@dataclass(frozen=True)
class Rule:
    """One rule: if ``pattern`` is found in ``field``, the row belongs to ``channel``."""

    pattern: re.Pattern[str]
    channel: str
    field: str = "campaign"


@dataclass(frozen=True)
class Taxonomy:
    """Aliases and ordered rules; the empty taxonomy only harmonises names."""

    aliases: dict[str, str] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()

    def channel_for(self, channel: str | None, campaign: str | None) -> str | None:
        """The channel of a row, or ``None`` when nothing names one.

        Rules are tried first (in order); then the row's own channel, through the aliases.
        """
        values = {"campaign": campaign or "", "channel": channel or ""}
        for rule in self.rules:
            if rule.pattern.search(values[rule.field]):
                return rule.channel
        if channel is None or not channel.strip():
            return None
        key = normalize_channel(channel)
        return self.aliases.get(key, key)


def _parse_rule(index: int, raw: Any, path: Path) -> Rule:
    where = f"taxonomy {path}, rules[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table with 'match' and 'channel'")
    unknown = set(raw) - {"match", "channel", "field"}
    if unknown:
        raise ConfigError(
            f"{where}: unknown keys {sorted(unknown)}; allowed: match, channel, field"
        )
    match, channel, fld = raw.get("match"), raw.get("channel"), raw.get("field", "campaign")
    if not isinstance(match, str) or not isinstance(channel, str) or not channel.strip():
        raise ConfigError(
            f"{where}: 'match' (a regular expression) and 'channel' (a name) are required strings"
        )
    if fld not in _FIELDS:
        raise ConfigError(f"{where}: field {fld!r} is not one of {list(_FIELDS)}")
    try:
        pattern = re.compile(match)
    except re.error as err:
        raise ConfigError(
            f"{where}: match {match!r} is not a valid regular expression ({err})"
        ) from err
    return Rule(pattern, normalize_channel(channel), str(fld))


def load_taxonomy(path: str | Path | None) -> Taxonomy:
    """Read a taxonomy TOML file; ``None`` gives the empty taxonomy."""
    if path is None:
        return Taxonomy()
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ConfigError(
            f"taxonomy file {path} does not exist; check the --taxonomy path"
        ) from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"taxonomy file {path} is not valid TOML: {err}") from err
    unknown = set(raw) - {"aliases", "rules"}
    if unknown:
        raise ConfigError(
            f"taxonomy {path}: unknown sections {sorted(unknown)}; allowed: aliases, rules"
        )
    aliases_raw = raw.get("aliases", {})
    if not isinstance(aliases_raw, dict) or not all(
        isinstance(v, str) for v in aliases_raw.values()
    ):
        raise ConfigError(f"taxonomy {path}: [aliases] must map names to channel names (strings)")
    aliases = {normalize_channel(k): normalize_channel(v) for k, v in aliases_raw.items()}
    rules_raw = raw.get("rules", [])
    if not isinstance(rules_raw, list):
        raise ConfigError(f"taxonomy {path}: 'rules' must be an array of tables ([[rules]])")
    rules = tuple(_parse_rule(i, r, path) for i, r in enumerate(rules_raw))
    return Taxonomy(aliases, rules)
