"""Ingestion: files and ad-platform exports into the workspace. A file is sniffed
(:mod:`~margin.data.ingest.sniff`, :mod:`~margin.data.ingest.dates`), staged
(:mod:`~margin.data.ingest.readers`), mapped by its layout (:mod:`~margin.data.ingest.layouts`)
and normalised (:mod:`~margin.data.ingest.normalize`, :mod:`~margin.data.ingest.taxonomy`),
then validated and written in one transaction (:mod:`~margin.data.ingest.pipeline`).
:mod:`~margin.data.ingest.importers` reads other tools' MMM inputs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from margin.exports import lazy_exports

if TYPE_CHECKING:
    from margin.data.ingest.dates import DateReading, detect_dates
    from margin.data.ingest.importers import Imported, import_meridian, import_pymc, import_robyn
    from margin.data.ingest.layouts import LAYOUTS, Layout, detect_layout
    from margin.data.ingest.pipeline import INGESTABLE, IngestResult, ingest_file, ingest_frames
    from margin.data.ingest.readers import ReadOptions, StagedFile, stage_file
    from margin.data.ingest.sniff import CsvShape, diagnose_csv, sniff_csv
    from margin.data.ingest.taxonomy import Taxonomy, load_taxonomy, normalize_channel

__all__ = [
    "INGESTABLE",
    "LAYOUTS",
    "CsvShape",
    "DateReading",
    "Imported",
    "IngestResult",
    "Layout",
    "ReadOptions",
    "StagedFile",
    "Taxonomy",
    "detect_dates",
    "detect_layout",
    "diagnose_csv",
    "import_meridian",
    "import_pymc",
    "import_robyn",
    "ingest_file",
    "ingest_frames",
    "load_taxonomy",
    "normalize_channel",
    "sniff_csv",
    "stage_file",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "margin.data.ingest.dates": ("DateReading", "detect_dates"),
        "margin.data.ingest.importers": (
            "Imported",
            "import_meridian",
            "import_pymc",
            "import_robyn",
        ),
        "margin.data.ingest.layouts": ("LAYOUTS", "Layout", "detect_layout"),
        "margin.data.ingest.pipeline": (
            "INGESTABLE",
            "IngestResult",
            "ingest_file",
            "ingest_frames",
        ),
        "margin.data.ingest.readers": ("ReadOptions", "StagedFile", "stage_file"),
        "margin.data.ingest.sniff": ("CsvShape", "diagnose_csv", "sniff_csv"),
        "margin.data.ingest.taxonomy": ("Taxonomy", "load_taxonomy", "normalize_channel"),
    },
)
