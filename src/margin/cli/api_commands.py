"""Show: ``margin serve`` (dashboard and REST API) and ``margin keys`` (API keys)."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Annotated

import typer

from margin.cli.console import console
from margin.cli.options import WorkspaceOption

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "bind_check", "is_loopback", "register"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


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
    from margin.data.workspace import resolve_path
    from margin.errors import WorkspaceError

    path = resolve_path(workspace)
    if not path.exists():
        raise WorkspaceError(
            f"workspace {path} does not exist; create it with 'margin ingest' or 'margin demo', "
            "or pass --workspace"
        )
    return path


def register(app: typer.Typer) -> None:
    """Add ``serve`` and the ``keys`` group to ``app``."""

    @app.command()
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
        import uvicorn

        from margin.api.app import create_app
        from margin.api.keys import active_key_count
        from margin.data.workspace import Workspace

        path = _workspace_path(workspace)
        with Workspace(path) as ws:
            notes = bind_check(host, active_key_count(ws))
        app_ = create_app(path)
        for note in notes:
            console.print(f"note: {note}")
        shown = f"[{host}]" if ":" in host else host
        console.print(f"margin dashboard: http://{shown}:{port}/  (API reference: /docs)")
        uvicorn.run(app_, host=host, port=port, log_level="warning")

    keys = typer.Typer(
        help="API keys for 'margin serve': create, list, revoke.", no_args_is_help=True
    )
    app.add_typer(keys, name="keys")

    @keys.command("create")
    def create(
        role: Annotated[str, typer.Option(help="viewer, analyst or admin.")],
        name: Annotated[str | None, typer.Option(help="Who holds the key.")] = None,
        as_json: Annotated[
            bool, typer.Option("--json", help='Print only {"key": ..., "role": ...}.')
        ] = False,
        workspace: WorkspaceOption = None,
    ) -> None:
        """Create a key. It is shown once and stored only as a hash: keep it now."""
        from margin.api.keys import create_key, key_id_of
        from margin.data.workspace import Workspace

        with Workspace(_workspace_path(workspace)) as ws:
            key = create_key(ws, role, name=name)
        chosen = role.strip().lower()
        if as_json:
            typer.echo(json.dumps({"key": key, "role": chosen}))
            return
        typer.echo(key)
        console.print(
            f"created {chosen} key {key_id_of(key)}: copy it now, it cannot be shown again. "
            "Send it as 'Authorization: Bearer KEY' or paste it at /login."
        )

    @keys.command("list")
    def list_(workspace: WorkspaceOption = None) -> None:
        """List keys (id, name, role, created, revoked); never the keys themselves."""
        from rich.table import Table

        from margin.api.keys import list_keys
        from margin.data.workspace import Workspace

        with Workspace(_workspace_path(workspace)) as ws:
            found = list_keys(ws)
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
        """Revoke a key: it stops working at once and its browser sessions end."""
        from margin.api.keys import revoke_key
        from margin.data.workspace import Workspace

        with Workspace(_workspace_path(workspace)) as ws:
            info = revoke_key(ws, key_id)
        console.print(f"revoked {info.role} key {info.id} ({info.name})")
