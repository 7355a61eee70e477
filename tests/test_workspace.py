"""The workspace file: creation, settings, migrations, weekly views."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from margin.data.workspace.schema import MIGRATIONS, SCHEMA_VERSION, TABLES
from margin.data.workspace.store import Workspace, WorkspaceSettings, resolve_path
from margin.errors import ConfigError, WorkspaceError


def test_new_workspace_has_every_contract_table(tmp_path: Path) -> None:
    with Workspace(tmp_path / "w.duckdb") as ws:
        assert set(ws.counts()) == set(TABLES)
        assert set(TABLES) >= {
            "spend",
            "outcomes",
            "controls",
            "events",
            "experiments",
            "transactions",
            "fx_rates",
            "runs",
        }
        assert ws.schema_version == SCHEMA_VERSION == len(MIGRATIONS)


def test_settings_persist_and_cannot_silently_change(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    Workspace(path, settings=WorkspaceSettings(currency="EUR", week_start="sunday")).close()
    with Workspace(path) as ws:
        assert ws.settings == WorkspaceSettings("EUR", "sunday")
    with pytest.raises(ConfigError, match="cannot be reopened"):
        Workspace(path, settings=WorkspaceSettings("USD", "monday"))


@pytest.mark.parametrize(
    ("currency", "week_start"), [("usd", "monday"), ("EURO", "monday"), ("USD", "funday")]
)
def test_bad_settings(currency: str, week_start: str) -> None:
    with pytest.raises(ConfigError):
        WorkspaceSettings(currency, week_start)


def test_path_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MARGIN_WORKSPACE", raising=False)
    assert resolve_path(None) == Path("margin.duckdb")
    monkeypatch.setenv("MARGIN_WORKSPACE", "/data/x.duckdb")
    assert resolve_path(None) == Path("/data/x.duckdb")
    assert resolve_path("y.duckdb") == Path("y.duckdb")


def test_read_only_needs_an_existing_workspace(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="does not exist"):
        Workspace(tmp_path / "nope.duckdb", read_only=True)


def test_foreign_duckdb_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t (x INT)")
    con.close()
    with pytest.raises(WorkspaceError, match="not a margin workspace"):
        Workspace(path)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    Workspace(path).close()
    con = duckdb.connect(str(path))
    con.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(WorkspaceError, match="upgrade margin"):
        Workspace(path)


def test_migration_path_upgrades_an_older_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A workspace at version 1 gains version 2's change when margin has a second migration."""
    import margin.data.workspace.store as workspace_module

    path = tmp_path / "w.duckdb"
    Workspace(path).close()
    extra = ("ALTER TABLE runs ADD COLUMN note VARCHAR",)
    monkeypatch.setattr(workspace_module, "MIGRATIONS", (*MIGRATIONS, extra))
    monkeypatch.setattr(workspace_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with Workspace(path) as ws:
        assert ws.schema_version == SCHEMA_VERSION + 1
        columns = [r[0] for r in ws.fetch("DESCRIBE runs")]
        assert "note" in columns


def test_read_only_open_of_an_older_schema_says_how_to_upgrade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import margin.data.workspace.store as workspace_module

    path = tmp_path / "w.duckdb"
    Workspace(path).close()
    extra = ("ALTER TABLE runs ADD COLUMN note VARCHAR",)
    monkeypatch.setattr(workspace_module, "MIGRATIONS", (*MIGRATIONS, extra))
    monkeypatch.setattr(workspace_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(WorkspaceError, match="margin init --workspace"):
        Workspace(path, read_only=True)
    with Workspace(path) as ws:  # a writable open upgrades it
        assert ws.schema_version == SCHEMA_VERSION + 1
    with Workspace(path, read_only=True) as ws:
        assert ws.schema_version == SCHEMA_VERSION + 1


def test_week_start_moves_the_weekly_views(tmp_path: Path) -> None:
    with Workspace(tmp_path / "w.duckdb", settings=WorkspaceSettings("USD", "sunday")) as ws:
        ws.con.execute(
            "INSERT INTO spend VALUES ('2024-01-06', 'national', 'tv', '', 'USD', 1, 1, NULL, NULL, 'generic', 1),"
            " ('2024-01-07', 'national', 'tv', '', 'USD', 2, 2, NULL, NULL, 'generic', 1)"
        )
        # Saturday 6 Jan belongs to the week of Sunday 31 Dec; Sunday 7 Jan starts a new one.
        assert ws.fetch("SELECT week::VARCHAR, spend FROM spend_weekly ORDER BY week") == [
            ("2023-12-31", 1.0),
            ("2024-01-07", 2.0),
        ]


def _rows(ws: Workspace) -> list[int]:
    return [r[0] for r in ws.con.execute("SELECT x FROM t ORDER BY x").fetchall()]


def test_an_inner_transaction_does_not_commit_on_its_own(tmp_path: Path) -> None:
    with Workspace(tmp_path / "w.duckdb") as ws:
        ws.con.execute("CREATE TABLE t (x INTEGER)")
        other = ws.con.cursor()  # a second connection: sees committed rows only
        with ws.transaction() as con:
            con.execute("INSERT INTO t VALUES (1)")
            with ws.transaction() as inner:
                inner.execute("INSERT INTO t VALUES (2)")
            assert _rows(ws) == [1, 2]
            assert other.execute("SELECT count(*) FROM t").fetchone() == (0,)
        assert other.execute("SELECT count(*) FROM t").fetchone() == (2,)


def test_nested_transaction_writes_land_when_the_outer_one_ends(tmp_path: Path) -> None:
    with Workspace(tmp_path / "w.duckdb") as ws:
        ws.con.execute("CREATE TABLE t (x INTEGER)")
        with ws.transaction() as con:
            con.execute("INSERT INTO t VALUES (1)")
            with ws.transaction() as inner:
                inner.execute("INSERT INTO t VALUES (2)")
        with ws.transaction() as con:  # depth is back to 0: a new transaction starts
            con.execute("INSERT INTO t VALUES (3)")
    with Workspace(tmp_path / "w.duckdb", read_only=True) as ws:
        assert _rows(ws) == [1, 2, 3]


def _inner_fails(ws: Workspace, catch: bool) -> None:
    with ws.transaction() as con:
        con.execute("INSERT INTO t VALUES (1)")
        try:
            with ws.transaction() as inner:
                inner.execute("INSERT INTO t VALUES (2)")
                raise ValueError("inner step failed")
        except ValueError:
            if not catch:
                raise
        con.execute("INSERT INTO t VALUES (3)")


def test_a_failed_inner_transaction_rolls_back_everything(tmp_path: Path) -> None:
    with Workspace(tmp_path / "w.duckdb") as ws:
        ws.con.execute("CREATE TABLE t (x INTEGER)")
        with pytest.raises(ValueError, match="inner"):
            _inner_fails(ws, catch=False)
        assert _rows(ws) == []
        # caught by the outer block: still nothing written, and the caller is told
        with pytest.raises(WorkspaceError, match="rolled back and nothing was written"):
            _inner_fails(ws, catch=True)
        assert _rows(ws) == []
        with ws.transaction() as con:  # the workspace is usable afterwards
            con.execute("INSERT INTO t VALUES (4)")
        assert _rows(ws) == [4]
