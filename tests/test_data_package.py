"""The shape of ``margin.data``: subpackages by concern, public ``__init__``s, and no module
reaching into another's private names (issue 20)."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
DATA = SRC / "margin" / "data"
SUBPACKAGES = ("ingest", "panel", "rules", "simulator", "workspace")

PRIVATE_IMPORTS: dict[tuple[str, str], str] = {}
"""``(importing module, imported name)`` → why it may import a private name (none today)."""


def _private(part: str) -> bool:
    return part.startswith("_") and not part.startswith("__")


def private_imports(source: str) -> list[tuple[int, str]]:
    """``(line, dotted name)`` of every private (``_``-prefixed) module or name imported."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            for alias in node.names:
                name = f"{base}.{alias.name}" if node.module else f"{base}{alias.name}"
                if any(_private(part) for part in name.lstrip(".").split(".")):
                    found.append((node.lineno, name))
        elif isinstance(node, ast.Import):
            found += [
                (node.lineno, alias.name)
                for alias in node.names
                if any(_private(part) for part in alias.name.split("."))
            ]
    return found


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_module_imports_another_modules_private_names() -> None:
    found = [
        f"{_module_name(path)}:{line} imports {name}"
        for path in sorted((SRC / "margin").rglob("*.py"))
        for line, name in private_imports(path.read_text(encoding="utf-8"))
        if (_module_name(path), name) not in PRIVATE_IMPORTS
    ]
    assert found == [], "make the shared names public in a shared module:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "source",
    [
        "from margin.data.panel.marketing_data import _Cubes\n",
        "from margin.data.panel import _shared\n",
        "import margin.data._lazy\n",
        "from ._helpers import listing\n",
        "from . import _helpers\n",
    ],
)
def test_the_private_import_checker_catches(source: str) -> None:
    assert len(private_imports(source)) == 1


def test_the_private_import_checker_passes_public_and_dunder_names() -> None:
    source = (
        "from __future__ import annotations\nfrom margin.data.panel.common import Cubes\n"
        "from margin import __version__\nimport margin.data.panel.common\n"
    )
    assert private_imports(source) == []


def test_data_is_split_into_subpackages_and_the_flat_modules_are_gone() -> None:
    top = sorted(p.name for p in DATA.iterdir() if p.name != "__pycache__")
    assert top == sorted(["__init__.py", *SUBPACKAGES])
    for old in ("panel_csv", "rules_load", "validation", "readers", "spec"):
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(f"margin.data.{old}")


@pytest.mark.parametrize("package", SUBPACKAGES)
def test_each_subpackage_exports_its_public_names(package: str) -> None:
    module = importlib.import_module(f"margin.data.{package}")
    assert module.__doc__
    assert len(set(module.__all__)) == len(module.__all__)
    for name in module.__all__:
        value = getattr(module, name)
        assert value is not None
        assert not _private(name)
    with pytest.raises(AttributeError):
        module.no_such_name  # noqa: B018


def test_importing_a_data_package_loads_none_of_its_modules() -> None:
    code = (
        "import sys, margin.data, margin.data.ingest, margin.data.panel, margin.data.rules, "
        "margin.data.workspace; "
        "print(sorted(m for m in sys.modules if m.startswith('margin.data.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(
        ["margin.data.ingest", "margin.data.panel", "margin.data.rules", "margin.data.workspace"]
    )


def test_every_data_module_imports_first_without_a_cycle() -> None:
    modules = sorted(_module_name(p) for p in DATA.rglob("*.py"))
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    for loaded in [m for m in sys.modules if m.startswith('margin')]:\n"
        "        del sys.modules[loaded]\n"
        "    importlib.import_module(name)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr[-2000:]
