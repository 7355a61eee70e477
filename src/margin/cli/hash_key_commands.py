"""``margin hash-key``: the key that hashes user and customer ids, kept outside the workspace."""

from __future__ import annotations

from typing import Annotated

import typer

from margin.cli.common import announce_key, existing_workspace
from margin.cli.console import console
from margin.cli.options import WorkspaceOption

__all__ = ["create", "export", "hash_key", "rotate", "show"]

hash_key = typer.Typer(
    help="The key that hashes user and customer ids: it lives outside the workspace "
    "($XDG_CONFIG_HOME/margin/hash-keys/, mode 0600) or in $MARGIN_HASH_KEY.",
    no_args_is_help=True,
)
"""``margin hash-key …``."""

_INIT_HINT = "; margin init creates a workspace with its key"


@hash_key.command("show")
def show(workspace: WorkspaceOption = None) -> None:
    """Say where the workspace's key is and which versions it has (never the key)."""
    from margin.data.workspace.hashing import KEY_ENV, key_path, load_key
    from margin.data.workspace.store import Workspace

    with Workspace(workspace, read_only=True) as ws:
        path = key_path(ws.workspace_id) if ws.workspace_id else None
        console.print(f"workspace {ws.path}: id {ws.workspace_id}", markup=False)
        console.print(f"key file: {path}", markup=False)
        key = load_key(ws)
    where = f"{KEY_ENV} (the key file is not used)" if key.source == KEY_ENV else key.source
    console.print(f"key in use: {where}", markup=False)
    for version in key.versions:
        made = f", created {version.created}" if version.created else ""
        console.print(f"  version {version.version}: {version.algorithm}{made}", markup=False)


@hash_key.command("create")
def create(
    workspace: WorkspaceOption = None,
    force: Annotated[
        bool,
        typer.Option(
            help="Start a new key when the recorded one is lost for good (ids stored "
            "so far then stay apart from new ones)."
        ),
    ] = False,
) -> None:
    """Create the workspace's key file (margin init and the first ingest do it too)."""
    from margin.data.workspace.hashing import create_key
    from margin.data.workspace.store import Workspace

    with Workspace(existing_workspace(workspace, _INIT_HINT)) as ws:
        announce_key(create_key(ws, force=force), ws.path)


@hash_key.command("rotate")
def rotate(workspace: WorkspaceOption = None) -> None:
    """Add a new key version and re-key every stored id with it, in one transaction."""
    from margin.data.workspace.hashing import rotate_key
    from margin.data.workspace.store import Workspace

    with Workspace(existing_workspace(workspace, _INIT_HINT)) as ws:
        key, counts = rotate_key(ws)
    console.print(
        f"re-keyed {counts['events']:,} event ids and {counts['transactions']:,} customer "
        f"ids with key version {len(key.versions)}; {key.source} now holds versions "
        f"1 to {len(key.versions)} (ids are hashed through each in turn). Back it up "
        "again: older copies of the key no longer fit the workspace",
        markup=False,
    )


@hash_key.command("export")
def export(workspace: WorkspaceOption = None) -> None:
    """Print the key as one line, for a backup or for $MARGIN_HASH_KEY. It is secret."""
    from margin.data.workspace.hashing import export_key
    from margin.data.workspace.store import Workspace

    with Workspace(workspace, read_only=True) as ws:
        line = export_key(ws)
    typer.echo(line)
