"""``margin hash-key``: the key that hashes user and customer ids, kept outside the workspace."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from margin.cli.console import console
from margin.cli.options import WorkspaceOption

if TYPE_CHECKING:
    from margin.data.hashing import HashKey
    from margin.data.workspace import Workspace

__all__ = ["announce_key", "open_with_key", "register"]

BACKUP_HINT = (
    "Back it up apart from the workspace (with it and the workspace, ids can be guessed; "
    "without it, ids loaded later cannot be matched to those stored). See margin hash-key --help"
)


def announce_key(key: HashKey, workspace: Path) -> None:
    """Say that ``workspace``'s key was just created, where it is, and to back it up."""
    console.print(
        f"created the key that hashes user and customer ids of {workspace}: {key.source} "
        f"(readable by you only). {BACKUP_HINT}",
        markup=False,
        soft_wrap=True,  # a path must not be broken inside by the terminal's width
    )


def open_with_key(workspace: Path | None) -> Workspace:
    """Open (creating it if absent) the workspace; a workspace created now gets its key."""
    from margin.data.hashing import ensure_key
    from margin.data.workspace import Workspace, resolve_path

    new = not resolve_path(workspace).exists()
    ws = Workspace(workspace)
    if new:
        try:
            key, created = ensure_key(ws)
        except BaseException:
            ws.close()
            raise
        if created:
            announce_key(key, ws.path)
    return ws


def register(app: typer.Typer) -> None:
    """Add the ``hash-key`` command group to ``app``."""
    group = typer.Typer(
        help="The key that hashes user and customer ids: it lives outside the workspace "
        "($XDG_CONFIG_HOME/margin/hash-keys/, mode 0600) or in $MARGIN_HASH_KEY.",
        no_args_is_help=True,
    )
    app.add_typer(group, name="hash-key")

    @group.command("show")
    def show(workspace: WorkspaceOption = None) -> None:
        """Say where the workspace's key is and which versions it has (never the key)."""
        from margin.data.hashing import KEY_ENV, key_path, load_key
        from margin.data.workspace import Workspace

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

    @group.command("create")
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
        from margin.data.hashing import create_key
        from margin.data.workspace import Workspace

        with Workspace(workspace) as ws:
            announce_key(create_key(ws, force=force), ws.path)

    @group.command("rotate")
    def rotate(workspace: WorkspaceOption = None) -> None:
        """Add a new key version and re-key every stored id with it, in one transaction."""
        from margin.data.hashing import rotate_key
        from margin.data.workspace import Workspace

        with Workspace(workspace) as ws:
            key, counts = rotate_key(ws)
        console.print(
            f"re-keyed {counts['events']:,} event ids and {counts['transactions']:,} customer "
            f"ids with key version {len(key.versions)}; {key.source} now holds versions "
            f"1 to {len(key.versions)} (ids are hashed through each in turn). Back it up "
            "again: older copies of the key no longer fit the workspace",
            markup=False,
        )

    @group.command("export")
    def export(workspace: WorkspaceOption = None) -> None:
        """Print the key as one line, for a backup or for $MARGIN_HASH_KEY. It is secret."""
        from margin.data.hashing import export_key
        from margin.data.workspace import Workspace

        with Workspace(workspace, read_only=True) as ws:
            line = export_key(ws)
        typer.echo(line)
