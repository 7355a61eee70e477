"""The drop folder: which files are new, and which table each one goes to.

Layout (both forms may be mixed)::

    drop/
      spend/2024-06-03.csv           one subfolder per table kind
      outcomes/week23.parquet
      spend__meta_2024-06-03.csv     or KIND__name.ext at the top level
      outcomes.csv                   or KIND.ext at the top level

Kinds are the workspace tables files are ingested into (:data:`LOAD_ORDER`). CSV
(``.csv``, ``.tsv``, ``.txt``, gzipped too) and Parquet (``.parquet``, ``.pq``) are read.
Hidden files (``.name``) and files ending ``.part``, ``.tmp`` or ``~`` are in-flight copies
and are skipped silently: write a file under such a name and rename it when complete.
Anything else that does not fit the layout is listed as ignored, with the reason.

A file whose content (SHA-256) the workspace ``loads`` table already holds for that
kind was loaded before and is skipped, so running a refresh again is a no-op. Files
are ingested in :data:`LOAD_ORDER` (exchange rates before the spend they convert),
by path within a kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from margin.data.ingest.readers import CSV_SUFFIXES, PARQUET_SUFFIXES, file_sha256
from margin.errors import ConfigError

if TYPE_CHECKING:
    from margin.data.workspace.store import Workspace

__all__ = ["LOAD_ORDER", "DropFile", "DropScan", "IgnoredFile", "scan_drop"]

LOAD_ORDER = (
    "fx_rates",
    "spend",
    "outcomes",
    "controls",
    "experiments",
    "events",
    "transactions",
)
"""Table kinds in the order their files are ingested."""
_SEPARATOR = "__"
_IN_FLIGHT = (".part", ".tmp", "~", ".crdownload")


@dataclass(frozen=True)
class DropFile:
    """A data file in the drop folder and the table it goes to."""

    path: Path
    kind: str
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "kind": self.kind, "sha256": self.sha256}


@dataclass(frozen=True)
class IgnoredFile:
    """A file the refresh does not load, and why."""

    path: Path
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "reason": self.reason}


@dataclass(frozen=True)
class DropScan:
    """What the drop folder holds: files to load, files loaded before, files ignored."""

    new: tuple[DropFile, ...]
    loaded_before: tuple[DropFile, ...]
    ignored: tuple[IgnoredFile, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "new": [f.to_dict() for f in self.new],
            "loaded_before": [f.to_dict() for f in self.loaded_before],
            "ignored": [f.to_dict() for f in self.ignored],
        }


def _is_data_file(name: str) -> bool:
    lower = name.lower()
    return lower.endswith(CSV_SUFFIXES) or lower.endswith(PARQUET_SUFFIXES)


def _in_flight(name: str) -> bool:
    return name.startswith(".") or name.lower().endswith(_IN_FLIGHT)


def _stem(name: str) -> str:
    lower = name.lower()
    for suffix in sorted((*CSV_SUFFIXES, *PARQUET_SUFFIXES), key=len, reverse=True):
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _kind_of_top_level(name: str) -> str | None:
    stem = _stem(name)
    kind = stem.split(_SEPARATOR, 1)[0] if _SEPARATOR in stem else stem
    return kind if kind in LOAD_ORDER else None


def _candidates(drop: Path) -> tuple[list[tuple[Path, str]], list[IgnoredFile]]:
    """``(path, kind)`` of every data file in the layout, and the files that do not fit."""
    found: list[tuple[Path, str]] = []
    ignored: list[IgnoredFile] = []
    layout = (
        f"put it in a subfolder named after its table ({', '.join(LOAD_ORDER)}) "
        f"or name it KIND{_SEPARATOR}name.csv"
    )
    for entry in sorted(drop.iterdir()):
        if _in_flight(entry.name):
            continue
        if entry.is_dir():
            if entry.name not in LOAD_ORDER:
                ignored.append(IgnoredFile(entry, f"folder is not a table kind; {layout}"))
                continue
            for child in sorted(entry.iterdir()):
                if _in_flight(child.name):
                    continue
                if child.is_file() and _is_data_file(child.name):
                    found.append((child, entry.name))
                else:
                    ignored.append(IgnoredFile(child, "not a CSV or Parquet file (or a subfolder)"))
            continue
        if not _is_data_file(entry.name):
            ignored.append(IgnoredFile(entry, "not a CSV or Parquet file"))
            continue
        kind = _kind_of_top_level(entry.name)
        if kind is None:
            ignored.append(IgnoredFile(entry, f"its name does not say its table; {layout}"))
        else:
            found.append((entry, kind))
    return found, ignored


def scan_drop(workspace: Workspace, drop: Path) -> DropScan:
    """Sort the files of ``drop`` into new, loaded before (same kind and SHA-256), ignored.

    Raises:
        ConfigError: the drop folder does not exist.
    """
    drop = Path(drop)
    if not drop.is_dir():
        raise ConfigError(
            f"drop folder {drop} does not exist or is not a folder; create it (with subfolders "
            f"such as spend/ and outcomes/) or pass another --drop"
        )
    found, ignored = _candidates(drop)
    loaded = {
        (str(kind), str(sha))
        for kind, sha in workspace.con.execute("SELECT kind, sha256 FROM loads").fetchall()
    }
    order = {kind: i for i, kind in enumerate(LOAD_ORDER)}
    new: list[DropFile] = []
    before: list[DropFile] = []
    for path, kind in sorted(found, key=lambda item: (order[item[1]], str(item[0]))):
        file = DropFile(path, kind, file_sha256(path))
        key = (kind, file.sha256)
        if key in loaded:
            before.append(file)
        elif any((f.kind, f.sha256) == key for f in new):
            ignored.append(IgnoredFile(path, "same content as another new file; loaded once"))
        else:
            new.append(file)
    return DropScan(tuple(new), tuple(before), tuple(ignored))
