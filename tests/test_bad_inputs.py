"""The bad-input corpus (``tests/badinputs.py``) through the real ``margin`` entry point.

Every case must end with exit code 2 and one line on stderr, ``error: …``, naming what is
wrong (the file and, where it applies, the row and column) and the fix: no traceback, no
``internal error``, no raw file content, and the workspace exactly as it was. Each case
runs ``margin.cli.main.run`` in-process (its error printing, not Typer's) on a copy of a
workspace holding good rows in every table; a sample also runs as a real subprocess.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from _cli import margin
from badinputs import GOOD, BadInput, cases, main, write_case, write_good

MAX_LINE = 1200
"""No error line may be longer: messages quote short excerpts, never whole cells or lines."""
CASES = cases()


def _snapshot(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every base table of the workspace, rows sorted (temporary tables are not stored)."""
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        names = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'main' AND table_type = 'BASE TABLE' ORDER BY 1"
            ).fetchall()
        ]
        return {n: con.execute(f'SELECT * FROM "{n}" ORDER BY ALL').fetchall() for n in names}


@pytest.fixture(scope="module")
def good_workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A workspace holding :data:`badinputs.GOOD` (every table), and its snapshot."""
    from margin.data.ingest.pipeline import ingest_file
    from margin.data.workspace.hashing import create_key
    from margin.data.workspace.store import Workspace

    folder = tmp_path_factory.mktemp("good")
    path = folder / "ws.duckdb"
    with Workspace(path) as ws:
        create_key(ws)
        for kind, file in write_good(folder).items():
            ingest_file(ws, kind, file)
        assert all(ws.counts()[kind] > 0 for kind in GOOD)
    return path, _snapshot(path)


@pytest.fixture
def workspace(
    good_workspace: tuple[Path, dict[str, Any]], tmp_path: Path
) -> tuple[Path, dict[str, Any]]:
    """A private copy of the good workspace (a case may not touch the shared one)."""
    source, snapshot = good_workspace
    copy = tmp_path / "ws.duckdb"
    shutil.copyfile(source, copy)
    return copy, snapshot


def _run(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """``margin ARGS…`` through ``margin.cli.main.run`` in-process: (exit code, stdout, stderr)."""
    from margin.cli.main import run

    monkeypatch.setattr(sys, "argv", ["margin", *args])
    with pytest.raises(SystemExit) as stopped:
        run()
    out, err = capsys.readouterr()
    code = stopped.value.code
    return (code if isinstance(code, int) else 1), out, err


def _assert_one_clear_line(case: BadInput, path: Path, code: int, out: str, err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, f"{case.name}: exit {code}\n{err}"
    assert len(lines) == 1, f"{case.name}: {len(lines)} lines on stderr:\n{err}"
    line = lines[0]
    assert line.startswith("error: "), line
    assert "Traceback" not in err, line
    assert "internal error" not in err, line
    assert len(line) <= MAX_LINE, f"{case.name}: a {len(line)}-character line"
    assert all(ch.isprintable() for ch in line), f"{case.name}: raw control characters: {line!r}"
    assert not out.strip(), f"{case.name}: printed on stdout: {out[:300]}"
    for needle in (path.name, *case.says) if case.names_file else case.says:
        assert needle in line, f"{case.name}: {needle!r} missing from: {line}"
    return line


def test_the_corpus_is_large_and_covers_every_table() -> None:
    assert len(CASES) >= 50
    assert {c.kind for c in CASES} >= set(GOOD)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_refused_with_one_clear_line(
    case: BadInput,
    workspace: tuple[Path, dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ws, before = workspace
    path = write_case(case, tmp_path)
    code, out, err = _run(
        ["ingest", case.kind, str(path), "--workspace", str(ws), *case.args], monkeypatch, capsys
    )
    _assert_one_clear_line(case, path, code, out, err)
    assert _snapshot(ws) == before


@pytest.mark.parametrize(
    "name", ["invalid_utf8.csv", "xlsx_renamed.csv", "nul_in_campaign.csv", "encoding_klingon.csv"]
)
def test_bad_input_in_a_real_process(
    name: str, workspace: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    case = next(c for c in CASES if c.name == name)
    ws, before = workspace
    path = write_case(case, tmp_path)
    done = margin("ingest", case.kind, str(path), "--workspace", str(ws), *case.args)
    _assert_one_clear_line(case, path, done.returncode, done.stdout, done.stderr)
    assert _snapshot(ws) == before


def test_a_bad_file_after_a_good_one_loads_neither(
    workspace: tuple[Path, dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ws, before = workspace
    good = tmp_path / "more.csv"
    good.write_text(
        "date,geo,channel,campaign,spend\n2024-01-15,north,tv,brand,1\n", encoding="utf-8"
    )
    case = next(c for c in CASES if c.name == "invalid_utf8.csv")
    bad = write_case(case, tmp_path)
    code, out, err = _run(
        ["ingest", "spend", str(good), str(bad), "--workspace", str(ws)], monkeypatch, capsys
    )
    _assert_one_clear_line(case, bad, code, out, err)
    assert _snapshot(ws) == before


def test_the_script_writes_the_corpus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "corpus")]) == 0
    written = {p.name for p in (tmp_path / "corpus").iterdir()}
    expected = {c.name for c in CASES if c.data() is not None}
    assert written == expected | {"cases.tsv"}
    assert "cases" in capsys.readouterr().out
