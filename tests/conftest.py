"""Shared fixtures: a fresh workspace and a helper that writes input files."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from margin.data.workspace.store import Workspace

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def pytest_configure(config: pytest.Config) -> None:
    """The JAX settings the ``margin`` command uses (parallel chains, compile cache)."""
    from margin.cli.main import configure_jax

    configure_jax()


@pytest.fixture(scope="session", autouse=True)
def private_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Keep the tests' hashing keys out of the real home: ``XDG_CONFIG_HOME`` is a temporary
    folder (key files go to ``<it>/margin/hash-keys/``) and ``MARGIN_HASH_KEY`` is unset.
    Subprocesses (``tests/_cli.py``) inherit both."""
    with pytest.MonkeyPatch.context() as patch:
        config = tmp_path_factory.mktemp("config")
        patch.setenv("XDG_CONFIG_HOME", str(config))
        patch.delenv("MARGIN_HASH_KEY", raising=False)
        yield config


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    """A new, empty workspace in a temporary folder, with its hashing key (as ``margin init``)."""
    from margin.data.workspace.hashing import create_key

    with Workspace(tmp_path / "ws.duckdb") as workspace:
        create_key(workspace)
        yield workspace


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[[str, str | bytes], Path]:
    """Write text (UTF-8) or bytes to ``tmp_path / name`` and return the path."""

    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return _write


@pytest.fixture
def shared_data() -> Path:
    """The peer reference datasets; skips the test when ../shared/data is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(
            f"peer reference data not found at {SHARED_DATA} (../shared/data beside the repo)"
        )
    return SHARED_DATA


@pytest.fixture(scope="session")
def fitted_run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fitted MMM run folder (``save_fit``: ``save_run`` and ``curves.json``), shared by the whole test session.

    A small national world (3 channels, 104 weeks, 300 users; seed 3) is simulated,
    ingested into the workspace ``fitted_run_dir.parent / "ws.duckdb"`` (every table,
    events included), fitted with ``MarketingMixModel(method="approximate")`` and
    recorded in ``runs``. The files of the world are in ``fitted_run_dir.parent / "world"``.
    Tests that write to the workspace or the folder must work on copies (it is shared).
    """
    from margin.data.ingest.pipeline import ingest_file
    from margin.data.panel.marketing_data import load_panel
    from margin.data.panel.spec import load_spec
    from margin.data.simulator import WorldParams, simulate_world, write_world
    from margin.data.simulator.params import DEFAULT_CHANNELS
    from margin.data.workspace.hashing import create_key
    from margin.mmm import MarketingMixModel, record_run
    from margin.refresh.fit import save_fit

    base = tmp_path_factory.mktemp("fitted")
    params = WorldParams.national(n_weeks=104, channels=DEFAULT_CHANNELS[:3], n_users=300)
    paths = write_world(simulate_world(params, seed=3), base / "world")
    with Workspace(base / "ws.duckdb") as workspace:
        create_key(workspace)
        for kind in ("spend", "outcomes", "controls", "events"):
            ingest_file(workspace, kind, paths[kind])
        spec = load_spec(paths["spec"])
        panel = load_panel(spec, workspace=workspace)
        model = MarketingMixModel(
            method="approximate", draws=200, seed=0, holdout_weeks=8, approximate_steps=1500
        )
        record = save_fit(model.fit(panel), panel, spec, base / "run")
        record_run(workspace, record)
    return base / "run"


@pytest.fixture(scope="session")
def fitted_plan(fitted_run_dir: Path) -> dict[str, Any]:
    """The ``plan.json`` body of an 8-week plan made from :func:`fitted_run_dir` (shared)."""
    from _report import make_plan

    return make_plan(fitted_run_dir)
