"""Runs: the one owner of run folders and of the workspace ``runs`` table.

Every package that writes or reads a run goes through this module: no other module
holds SQL against ``runs`` or reads a run's ``summary.json``.

- **Run folders.** A model run lives in one folder: ``summary.json`` (the fit's summary
  with its ``run`` block: id, spec hash, data hash, code version, seed, ...), and, for a
  run that can be planned with, ``model.json`` (format :data:`RUN_FORMAT` version
  :data:`RUN_FORMAT_VERSION`, with a hash of the model structure), ``model.npz`` and
  ``posterior.npz``. :func:`write_summary` writes the summary; :func:`publish_run_folder`
  renames a folder written elsewhere (a refresh's hidden partial folder) into place in
  one step, so a folder named after a run id is never half written.
- **Loading a summary.** :func:`load_summary` is the one reader, with one check: the
  folder and its ``summary.json`` exist, the file is a JSON object with the keys
  :data:`SUMMARY_KEYS`, a ``model.json`` beside it has this margin's format and a
  structure matching its hash (:func:`check_model_meta`), and, when the ``runs`` row is
  given, the summary's run id, spec hash and data hash are the row's (a summary copied
  from another run or edited is refused). Each failure is a :class:`ConfigError` that
  names the folder and the fix.
- **The ``runs`` table.** :func:`record_run` is the one insert; :func:`find_run`,
  :func:`latest_run`, :func:`list_runs` and :func:`has_run` the only queries.
- **Plans** (one rule for the CLI and the API, :func:`record_plan`): a plan's id is
  ``plan-`` and the first 12 hex digits of the SHA-256 of its run id, its request and
  its weekly KPI forecast (which carries the known future controls), so the same request
  on the same run gives the same id and recording it again replaces its row (idempotent);
  its ``spec_hash`` is the SHA-256 of the request, its data hash and seed the run's; its
  status ``ok`` when the plan's optimality checks passed, ``warning`` otherwise; its
  file ``<run folder>/plans/<12 hex>/plan.json`` (:func:`plan_path`) unless the caller
  names another (``margin optimize --out``).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from margin.errors import ConfigError

if TYPE_CHECKING:
    from margin.data.workspace.store import Workspace

__all__ = [
    "RUN_FORMAT",
    "RUN_FORMAT_VERSION",
    "SUMMARY",
    "SUMMARY_KEYS",
    "USABLE",
    "RunRecord",
    "RunRow",
    "check_model_meta",
    "code_version",
    "find_run",
    "has_run",
    "latest_run",
    "list_runs",
    "load_summary",
    "new_run_id",
    "plan_id",
    "plan_path",
    "publish_run_folder",
    "read_json_object",
    "record_plan",
    "record_run",
    "structure_hash",
    "utc_now",
    "write_summary",
]

RUN_FORMAT = "margin-mmm-run"
RUN_FORMAT_VERSION = 1
"""Bumped whenever ``model.json``/``model.npz`` change meaning; older folders are refused."""
SUMMARY = "summary.json"
"""The summary file of a run folder."""
SUMMARY_KEYS = ("run", "kpi", "channels_order", "channels", "totals", "baseline", "diagnostics")
"""Keys every ``summary.json`` has (older or foreign files lacking one are refused)."""
USABLE = ("ok", "warning", "approximate")
"""Statuses of a model run that can be shown and planned with."""
_COLUMNS = (
    "id", "kind", "spec_hash", "data_hash", "code_version", "seed", "created", "status",
    "artifact_path", "message",
)  # fmt: skip
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM runs"
_NEWEST = "ORDER BY created DESC, id DESC"


@dataclass(frozen=True)
class RunRecord:
    """What identifies a run: (data hash, spec hash, code version, seed) and where it lies."""

    id: str
    spec_hash: str
    data_hash: str
    code_version: str
    seed: int
    created: datetime
    status: str
    artifact_path: str
    message: str

    def row(self, kind: str) -> RunRow:
        """This record as a ``runs`` row of ``kind``."""
        return RunRow(
            id=self.id, kind=kind, spec_hash=self.spec_hash, data_hash=self.data_hash,
            code_version=self.code_version, seed=self.seed, created=self.created,
            status=self.status, artifact_path=self.artifact_path, message=self.message,
        )  # fmt: skip


@dataclass(frozen=True)
class RunRow:
    """One row of the ``runs`` table (a model run, plan, refresh or loop cycle).

    ``spec_hash``, ``data_hash``, ``seed`` and ``artifact_path`` may be missing (a refresh
    that failed before it knew them).
    """

    id: str
    kind: str
    spec_hash: str | None
    data_hash: str | None
    code_version: str | None
    seed: int | None
    created: datetime | None
    status: str
    artifact_path: str | None
    message: str | None

    @property
    def path(self) -> Path:
        """The artifact (a run's folder, a plan's ``plan.json``); ``Path('')`` when none."""
        return Path(self.artifact_path or "")

    def values(self) -> list[Any]:
        """The row's values in the table's column order."""
        return [getattr(self, name) for name in _COLUMNS]


def code_version() -> str:
    """margin's installed version (``0+unknown`` when not installed)."""
    import margin

    return str(margin.__version__)


def new_run_id(kind: str = "mmm") -> str:
    """A fresh run id: ``<kind>-`` and 12 random hex digits."""
    return f"{kind}-{uuid.uuid4().hex[:12]}"


def utc_now() -> datetime:
    """Now, in UTC, without time zone (as ``runs.created`` stores it)."""
    return datetime.now(UTC).replace(tzinfo=None)


# -- the runs table ----------------------------------------------------------------------


def record_run(workspace: Workspace, record: RunRecord | RunRow, *, kind: str = "mmm") -> None:
    """Insert ``record`` as a row of ``runs`` (``kind`` applies to a :class:`RunRecord`;
    a :class:`RunRow` carries its own), in a transaction (joining an open one)."""
    row = record.row(kind) if isinstance(record, RunRecord) else record
    with workspace.transaction() as con:
        con.execute(
            f"INSERT INTO runs ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
            row.values(),
        )


def _rows(workspace: Workspace, where: str, params: Sequence[Any]) -> list[RunRow]:
    found = workspace.con.execute(f"{_SELECT} {where}", list(params)).fetchall()
    return [RunRow(*values) for values in found]


def find_run(workspace: Workspace, run_id: str) -> RunRow | None:
    """The row with id ``run_id``, or ``None``."""
    found = _rows(workspace, "WHERE id = ? LIMIT 1", [run_id])
    return found[0] if found else None


def has_run(workspace: Workspace, run_id: str) -> bool:
    """Whether ``runs`` holds a row with id ``run_id``."""
    return find_run(workspace, run_id) is not None


def list_runs(
    workspace: Workspace,
    *,
    kind: str | None = None,
    statuses: Sequence[str] | None = None,
    exclude_failed: bool = False,
    limit: int | None = None,
) -> list[RunRow]:
    """Rows, newest first: of ``kind`` only, with a status in ``statuses`` only, without
    ``failed`` ones, at most ``limit``."""
    clauses: list[str] = []
    params: list[Any] = []
    if kind is not None:
        clauses.append("kind = ?")
        params.append(kind)
    if statuses is not None:
        clauses.append(f"status IN ({', '.join('?' * len(statuses))})")
        params.extend(statuses)
    if exclude_failed:
        clauses.append("status <> 'failed'")
    where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
    tail = "" if limit is None else " LIMIT ?"
    return _rows(
        workspace, f"{where}{_NEWEST}{tail}", [*params, *([] if limit is None else [limit])]
    )


def latest_run(
    workspace: Workspace, *, kind: str = "mmm", statuses: Sequence[str] | None = None
) -> RunRow | None:
    """The newest row of ``kind`` whose status is in ``statuses`` (default: any but
    ``failed``), or ``None``."""
    found = list_runs(
        workspace, kind=kind, statuses=statuses, exclude_failed=statuses is None, limit=1
    )
    return found[0] if found else None


# -- run folders -------------------------------------------------------------------------


def write_summary(folder: str | Path, body: Mapping[str, Any]) -> Path:
    """Write ``folder/summary.json`` (indented JSON) and return its path."""
    path = Path(folder) / SUMMARY
    path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    return path


def publish_run_folder(written: Path, final: Path, record: RunRecord) -> RunRecord:
    """Move the complete run folder ``written`` to ``final`` (one rename, so ``final`` is
    never half written) and point its summary's ``run.artifact_path`` there.

    Returns ``record`` with the new ``artifact_path``.
    """
    written.rename(final)
    record = replace(record, artifact_path=str(final.resolve()))
    summary = _read_object(final / SUMMARY, final)
    summary["run"]["artifact_path"] = record.artifact_path
    write_summary(final, summary)
    return record


def structure_hash(config: Mapping[str, Any]) -> str:
    """SHA-256 of a model structure (``model.json``'s ``config``), keys sorted."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_model_meta(meta: Mapping[str, Any], folder: Path, error: type[Exception]) -> None:
    """Refuse a ``model.json`` of another format version or whose structure does not
    match its hash (raising ``error``)."""
    where = folder / "model.json"
    if meta.get("format") != RUN_FORMAT or meta.get("format_version") != RUN_FORMAT_VERSION:
        raise error(
            f"{where} has format {meta.get('format')!r} version {meta.get('format_version')!r}; "
            f"this margin reads {RUN_FORMAT!r} version {RUN_FORMAT_VERSION}: refit the model with "
            "this version (margin mmm fit)"
        )
    if structure_hash(meta.get("config", {})) != meta.get("config_hash"):
        raise error(
            f"{where}: the model structure does not match its hash (the file was edited); "
            "refit the model with margin mmm fit"
        )


def read_json_object(path: Path, what: str, fix: str) -> dict[str, Any]:
    """One JSON object from ``path``; errors name ``what`` and the file, and end with ``fix``.

    Raises:
        ConfigError: the file cannot be read, is not valid JSON, or holds no object.
    """
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"cannot read {what} {path}: {err.strerror or err}; {fix}") from err
    except json.JSONDecodeError as err:
        raise ConfigError(
            f"{what} {path} is not valid JSON (line {err.lineno}, column {err.colno}: "
            f"{err.msg}); {fix}"
        ) from err
    if not isinstance(body, dict):
        raise ConfigError(
            f"{what} {path} holds a {type(body).__name__}; expected a JSON object: {fix}"
        )
    return body


def _read_object(path: Path, folder: Path) -> dict[str, Any]:
    return read_json_object(
        path,
        "run summary",
        f"the run folder {folder} is damaged: restore it or fit the model again",
    )


def _check_row(summary: Mapping[str, Any], run: RunRow, path: Path) -> None:
    block = summary.get("run")
    recorded = block if isinstance(block, dict) else {}
    for key, expected in (
        ("id", run.id),
        ("spec_hash", run.spec_hash),
        ("data_hash", run.data_hash),
    ):
        if expected is not None and recorded.get(key) != expected:
            raise ConfigError(
                f"run summary {path} does not belong to run {run.id}: its run {key} is "
                f"{recorded.get(key)!r}, the runs table records {expected!r} (the file was "
                "replaced or edited); restore the run's folder or fit the model again"
            )


def load_summary(run: str | Path | RunRow) -> dict[str, Any]:
    """The ``summary.json`` of a run folder (or of the run of a ``runs`` row), checked as
    the module docstring says.

    Raises:
        ConfigError: the folder or its summary is missing, unreadable, lacks
            :data:`SUMMARY_KEYS`, its ``model.json`` is another format or was edited, or
            the summary does not match the row.
    """
    row = run if isinstance(run, RunRow) else None
    folder = run.path if isinstance(run, RunRow) else Path(run)
    named = f"run {row.id}'s folder" if row is not None else "run folder"
    if not folder.is_dir():
        raise ConfigError(
            f"{named} {folder} does not exist or is not a folder (moved or deleted?); pass "
            "the --out folder of `margin mmm fit`, or restore the folder"
        )
    path = folder / SUMMARY
    if not path.is_file():
        raise ConfigError(
            f"{named} {folder} has no summary.json; pass the --out folder of `margin mmm fit`"
        )
    summary = _read_object(path, folder)
    missing = [key for key in SUMMARY_KEYS if key not in summary]
    if missing:
        raise ConfigError(
            f"run summary {path} lacks {missing}; it was not written by `margin mmm fit` "
            "(or by an older margin): fit the model again"
        )
    if (folder / "model.json").is_file():
        check_model_meta(_read_object(folder / "model.json", folder), folder, ConfigError)
    if row is not None:
        _check_row(summary, row, path)
    return summary


# -- plans -------------------------------------------------------------------------------


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")


def plan_id(document: Mapping[str, Any]) -> str:
    """The id of the plan ``document`` (a ``plan.json`` body): ``plan-`` and 12 hex digits
    of the SHA-256 of its run id, request and weekly KPI forecast."""
    key = {
        "run_id": document.get("run_id"),
        "request": document.get("request"),
        "weekly_kpi": document.get("weekly_kpi"),
    }
    return f"plan-{hashlib.sha256(_canonical(key)).hexdigest()[:12]}"


def plan_path(run_folder: str | Path, plan: str) -> Path:
    """Where plan ``plan`` (an id from :func:`plan_id`) keeps its file when the caller
    names none: ``<run folder>/plans/<12 hex>/plan.json``."""
    return Path(run_folder) / "plans" / plan.removeprefix("plan-") / "plan.json"


def _plan_message(document: Mapping[str, Any]) -> str:
    gain = document.get("expected_gain") or {}
    text = (
        f"plan from run {document.get('run_id')}: budget {float(document['budget']):,.0f} "
        f"over {document['weeks']} weeks"
    )
    if all(isinstance(gain.get(k), int | float) for k in ("mean", "p05", "p95")):
        text += f", gain {gain['mean']:,.0f} [{gain['p05']:,.0f}, {gain['p95']:,.0f}]"
        value = document.get("kpi_value")
        if isinstance(value, int | float) and value != 1:  # a KPI counted in units
            text += (
                f" KPI units (worth {gain['mean'] * value:,.0f} in the workspace "
                f"currency at {value:g} each)"
            )
        else:
            text += " (the workspace currency)"
    return text


def record_plan(
    workspace: Workspace,
    run_folder: str | Path,
    document: Mapping[str, Any],
    path: str | Path | None = None,
) -> RunRecord:
    """Record the plan ``document`` of the run in ``run_folder`` as a ``kind='plan'`` row,
    by the rule of the module docstring; its file is ``path`` (default :func:`plan_path`),
    which the caller writes. Recording the same plan again replaces its row.

    Raises:
        ConfigError: the run's summary cannot be loaded (:func:`load_summary`).
    """
    run = load_summary(run_folder)["run"]
    identifier = plan_id(document)
    artifact = Path(path) if path is not None else plan_path(run_folder, identifier)
    checks = document.get("checks") or {}
    request = json.dumps(document.get("request"), sort_keys=True)
    record = RunRecord(
        id=identifier,
        spec_hash=hashlib.sha256(request.encode("utf-8")).hexdigest(),
        data_hash=str(run["data_hash"]),
        code_version=code_version(),
        seed=int(run["seed"]),
        created=utc_now(),
        status="ok" if checks.get("passed", True) else "warning",
        artifact_path=str(artifact.resolve()),
        message=_plan_message(document),
    )
    with workspace.transaction() as con:
        con.execute("DELETE FROM runs WHERE id = ? AND kind = 'plan'", [identifier])
        record_run(workspace, record, kind="plan")
    return record
