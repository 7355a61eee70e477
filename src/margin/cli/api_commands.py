"""Show: ``margin serve`` (dashboard and REST API), ``margin keys`` (API keys) and
``margin audit`` (verify and prune the audit trail)."""

from __future__ import annotations

import ipaddress
import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from margin.cli.console import console
from margin.cli.options import WorkspaceOption

__all__ = [
    "DEFAULT_HOST", "DEFAULT_PORT", "SHUTDOWN_GRACE_SECONDS", "audit", "bind_check",
    "is_loopback", "keys", "serve", "server",
]  # fmt: skip

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
SHUTDOWN_GRACE_SECONDS = 5
"""On SIGTERM or Ctrl-C, requests still running after this long are cancelled."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_check(host: str, active_keys: int) -> list[str]:
    """Decide whether ``serve`` may bind to ``host`` with ``active_keys`` keys configured.

    Returns notes to print; raises when it may not: with no key, anyone who can reach the
    port could do nothing useful (every endpoint needs a key) yet the app would invite
    them, and nobody could log in, so only loopback is allowed until a key exists.

    Raises:
        ConfigError: a non-loopback host with no active API key.
    """
    from margin.errors import ConfigError

    create = "margin keys create --role admin --name you"
    if active_keys == 0 and not is_loopback(host):
        raise ConfigError(
            f"refusing to listen on {host}: no API keys are configured, so the app may only "
            f"bind to loopback (127.0.0.1). Create a key first ('{create}'), or leave out --host"
        )
    notes = []
    if active_keys == 0:
        notes.append(f"no API keys yet: create one to log in ('{create}')")
    if not is_loopback(host):
        notes.append(
            f"listening on {host}: other machines can reach the app; put HTTPS in front of it "
            "(browser sessions need it away from loopback: the cookie is Secure)"
        )
    return notes


def _workspace_path(workspace: Path | None) -> Path:
    from margin.data.workspace.store import resolve_path
    from margin.errors import WorkspaceError

    path = resolve_path(workspace)
    if not path.exists():
        raise WorkspaceError(
            f"workspace {path} does not exist; create it with 'margin ingest' or 'margin demo', "
            "or pass --workspace"
        )
    return path


def server(app: Any, host: str, port: int) -> Any:
    """The uvicorn server of ``margin serve``: shuts down within
    :data:`SHUTDOWN_GRACE_SECONDS`, and tells running computations to stop as soon as the
    signal comes (:attr:`margin.api.state.AppState.stopping`)."""
    import uvicorn

    state = app.state.margin

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            state.stopping.set()
            super().handle_exit(sig, frame)

    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning",
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )  # fmt: skip
    return Server(config)


def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on (loopback unless keys exist).")
    ] = DEFAULT_HOST,
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = (
        DEFAULT_PORT
    ),
    workspace: WorkspaceOption = None,
) -> None:
    """Serve the dashboard and the REST API (OpenAPI at /openapi.json, reference at /docs)."""
    from margin.api.app import create_app
    from margin.api.keys import active_key_count
    from margin.data.workspace.store import Workspace

    path = _workspace_path(workspace)
    with Workspace(path) as ws:
        notes = bind_check(host, active_key_count(ws))
    app_ = create_app(path)
    for note in notes:
        console.print(f"note: {note}")
    shown = f"[{host}]" if ":" in host else host
    console.print(f"margin dashboard: http://{shown}:{port}/  (API reference: /docs)")
    server(app_, host, port).run()


keys = typer.Typer(help="API keys for 'margin serve': create, list, revoke.", no_args_is_help=True)
"""``margin keys …``."""


@keys.command("create")
def create(
    role: Annotated[str, typer.Option(help="viewer, analyst or admin.")],
    name: Annotated[str | None, typer.Option(help="Who holds the key.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help='Print only {"key": ..., "role": ...}.')
    ] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Create a key. It is shown once and stored only as a hash: keep it now.

    Recorded in the audit trail (source cli, your OS user)."""
    from margin.api.audit import cli_entry, record
    from margin.api.keys import create_key, key_id_of, list_keys
    from margin.data.workspace.store import Workspace

    with Workspace(_workspace_path(workspace)) as ws, ws.transaction():
        key = create_key(ws, role, name=name)
        info = next(k for k in list_keys(ws) if k.id == key_id_of(key))
        entry = cli_entry("key.create", "margin keys create", target=info.id, status=201,
                          detail={"role": info.role, "name": info.name})  # fmt: skip
        record(ws, entry)
    if as_json:
        typer.echo(json.dumps({"key": key, "role": info.role}))
        return
    typer.echo(key)
    console.print(
        f"created {info.role} key {info.id}: copy it now, it cannot be shown again. "
        "Send it as 'Authorization: Bearer KEY' or paste it at /login."
    )


@keys.command("list")
def list_(
    workspace: WorkspaceOption = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print a JSON list of {id, name, role, created, revoked}."),
    ] = False,
) -> None:
    """List keys (id, name, role, created, revoked); never the keys themselves."""
    from rich.table import Table

    from margin.api.keys import list_keys
    from margin.data.workspace.store import Workspace

    with Workspace(_workspace_path(workspace)) as ws:
        found = list_keys(ws)
    if as_json:
        typer.echo(json.dumps([k.to_dict() for k in found]))
        return
    if not found:
        console.print("no API keys; create one with 'margin keys create --role admin'")
        return
    table = Table("id", "name", "role", "created (UTC)", "revoked (UTC)")
    for k in found:
        revoked = "" if k.revoked is None else f"{k.revoked:%Y-%m-%d %H:%M}"
        table.add_row(k.id, k.name, k.role, f"{k.created:%Y-%m-%d %H:%M}", revoked)
    console.print(table)


@keys.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (margin keys list).")],
    workspace: WorkspaceOption = None,
) -> None:
    """Revoke a key: it stops working at once and its browser sessions end.

    Recorded in the audit trail (source cli, your OS user)."""
    from margin.api.audit import cli_entry, record
    from margin.api.keys import revoke_key
    from margin.data.workspace.store import Workspace

    with Workspace(_workspace_path(workspace)) as ws, ws.transaction():
        info = revoke_key(ws, key_id)
        record(ws, cli_entry("key.revoke", "margin keys revoke", target=info.id,
                             detail={"role": info.role, "name": info.name}))  # fmt: skip
    console.print(f"revoked {info.role} key {info.id} ({info.name})")


def _parse_day(text: str) -> datetime:
    from margin.errors import ConfigError

    try:
        return datetime.strptime(text.strip(), "%Y-%m-%d")
    except ValueError as err:
        raise ConfigError(
            f"--before {text!r} is not a date; use YYYY-MM-DD (rows dated before it, UTC, go)"
        ) from err


audit = typer.Typer(
    help="The audit trail of 'margin serve' and 'margin keys': verify, prune.",
    no_args_is_help=True,
)
"""``margin audit …``."""


@audit.command("verify")
def verify(workspace: WorkspaceOption = None) -> None:
    """Check the audit trail's hash chain: exit 0 when intact, 2 naming the first broken row."""
    from margin.api.audit import PendingAudit
    from margin.api.audit import verify as verify_chain
    from margin.data.workspace.store import Workspace
    from margin.errors import WorkspaceError

    path = _workspace_path(workspace)
    with Workspace(path, read_only=True) as ws:
        report = verify_chain(ws)
    if not report.intact:
        raise WorkspaceError(
            f"audit chain broken at row {report.broken_id} of {report.rows}: {report.problem}. "
            "Keep a copy of the workspace as evidence; rows after it cannot be trusted either"
        )
    span = "" if report.first_id is None else f" (ids {report.first_id} to {report.last_id})"
    console.print(f"{report.rows} rows, chain intact{span}; head {report.head}", soft_wrap=True)
    waiting = len(PendingAudit(path))
    if waiting:
        console.print(
            f"note: {waiting} rows wait in {PendingAudit(path).path.name} (written when the "
            "workspace was busy); 'margin serve' adds them at its next start"
        )


@audit.command("prune")
def prune(
    before: Annotated[
        str, typer.Option(help="Delete rows dated before this day (YYYY-MM-DD, UTC).")
    ],
    workspace: WorkspaceOption = None,
) -> None:
    """Delete the oldest rows (retention). The chain stays verifiable; the prune is audited."""
    from margin.api.audit import PendingAudit, cli_entry
    from margin.api.audit import prune as prune_trail
    from margin.data.workspace.store import Workspace

    day = _parse_day(before)
    path = _workspace_path(workspace)
    with Workspace(path) as ws:
        pending = PendingAudit(path)
        if pending.waiting():
            pending.flush(ws)
        done = prune_trail(ws, day, cli_entry("audit.prune", "margin audit prune"))
    console.print(
        f"pruned {done.deleted} audit rows dated before {day:%Y-%m-%d}; the chain now "
        f"starts from anchor {done.anchor[:16]}… (recorded as row {done.audit_id})"
    )
