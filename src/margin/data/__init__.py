"""Data: everything margin knows about the data, split by concern into subpackages.

- :mod:`margin.data.workspace`: the workspace store (one DuckDB file), its schema and
  migrations, the writer lock, the identifier-hashing key, and the ``runs`` owner
  (:mod:`margin.data.workspace.runs`: run folders, the ``runs`` table, plans).
- :mod:`margin.data.ingest`: files and ad-platform exports into the workspace (sniffing,
  dates, layouts, normalisation, the channel taxonomy) and other tools' MMM inputs.
- :mod:`margin.data.rules`: validation rules, findings and the data-quality report.
- :mod:`margin.data.panel`: the spec file and the model-ready panel ``MarketingData``.
- :mod:`margin.data.simulator`: one seeded causal world with known truth (tests,
  benchmarks, the demo; product code never imports it).

Each subpackage re-exports its public names and loads them on first use, so importing
this package (or one subpackage) imports nothing heavy. Modules of a subpackage share
names through a public module (``panel/common.py``, ``rules/common.py``), never through
another module's private names. ``data`` imports nothing of margin but the core types.
"""
