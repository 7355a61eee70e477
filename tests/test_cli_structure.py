"""The CLI's shape (issue 20): module-level commands, modules that do not import each other,
and the commands ``margin --help`` lists.

Commands are module-level functions, put on the app by :mod:`margin.cli.main` (groups as
module-level sub-apps), so a reader finds each one by name; command modules share only
:mod:`margin.cli.console`, :mod:`margin.cli.options` and :mod:`margin.cli.common`.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import typer

from _cli import margin

CLI = Path(__file__).resolve().parents[1] / "src" / "margin" / "cli"
SHARED = {"margin.cli.console", "margin.cli.options", "margin.cli.common"}
"""The CLI modules every command module may import."""
ASSEMBLER = "margin.cli.main"
"""The one module that imports the command modules: it assembles the app."""

COMMANDS = (
    "init", "ingest", "import", "check", "status", "simulate", "demo", "optimize", "scenario",
    "frontier", "forecast", "attribute", "reconcile", "report", "learning-report", "refresh", "serve",
)  # fmt: skip
GROUPS = {
    "mmm": ("fit",),
    "experiment": ("design", "analyze", "list", "ab"),
    "keys": ("create", "list", "revoke"),
    "audit": ("verify", "prune"),
    "hash-key": ("show", "create", "rotate", "export"),
    "world": ("init", "step", "score"),
    "loop": ("plan",),
    "ltv": ("fit", "by-channel", "holdout", "export"),
}


def _callbacks(app: typer.Typer, prefix: str = "") -> dict[str, Any]:
    """Every command of ``app`` (groups' commands as ``group sub``) → its callback."""
    found: dict[str, Any] = {}
    for info in app.registered_commands:
        assert info.callback is not None
        name = info.name or info.callback.__name__.lower().replace("_", "-")
        found[f"{prefix}{name}"] = info.callback
    for group in app.registered_groups:
        assert group.typer_instance is not None
        found |= _callbacks(group.typer_instance, f"{prefix}{group.name} ")
    return found


def test_every_command_is_a_module_level_function() -> None:
    from margin.cli.main import app

    callbacks = _callbacks(app)
    expected = {*COMMANDS, *(f"{g} {c}" for g, subs in GROUPS.items() for c in subs)}
    assert set(callbacks) == expected
    nested = {
        name: f"{fn.__module__}.{fn.__qualname__}"
        for name, fn in callbacks.items()
        if "<locals>" in fn.__qualname__
    }
    assert nested == {}, "commands defined inside functions: make them module-level"
    for fn in callbacks.values():
        assert fn.__module__.startswith("margin.cli.")


def _cli_imports(path: Path) -> set[str]:
    """The ``margin.cli`` modules that the module at ``path`` imports (at any depth)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("margin.cli")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("margin.cli"):
            if node.module == "margin.cli":
                found |= {f"margin.cli.{a.name}" for a in node.names}
            else:
                found.add(str(node.module))
    return found


def test_command_modules_do_not_import_each_other() -> None:
    modules = sorted(CLI.glob("*.py"))
    assert len(modules) > 10
    crossing = {
        f"margin.cli.{path.stem}": sorted(_cli_imports(path) - SHARED)
        for path in modules
        if f"margin.cli.{path.stem}" != ASSEMBLER and _cli_imports(path) - SHARED
    }
    assert crossing == {}, "share through margin.cli.common, not another command module"


def test_no_command_is_fed_a_locals_dict() -> None:
    for path in sorted(CLI.glob("*.py")):
        calls = [
            node
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "locals"
        ]
        assert calls == [], f"{path.name} passes locals(): give typed arguments"


def test_help_lists_the_commands_and_groups_in_order() -> None:
    result = margin("--help")
    assert result.returncode == 0, result.stderr
    names = [  # a row's first cell; wrapped descriptions start with spaces, options with -
        line[2:].split()[0]
        for line in result.stdout.splitlines()
        if line.startswith("│ ") and line[2] not in " -"
    ]
    assert names == [*COMMANDS, *GROUPS]
