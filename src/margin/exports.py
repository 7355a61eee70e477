"""Public names loaded on first use (a core module).

A package ``__init__`` that re-exports names from its modules without importing them
declares the names once, by module, and gets its module ``__getattr__`` (PEP 562) here::

    __getattr__ = lazy_exports(__name__, {"margin.data.panel.spec": ("Spec", "load_spec")})

so importing the package stays light and packages that use each other's modules never
meet in an import cycle. Type checkers read the same names from an ``if TYPE_CHECKING:``
block and ``__all__``.

This module imports nothing of margin.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, tuple[str, ...]]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports each exported name on first use.

    Args:
        package: the package's ``__name__`` (for the error message).
        exports: module → the names it exports through ``package``.
    """
    home = {name: module for module, names in exports.items() for name in names}

    def attribute(name: str) -> Any:
        if name in home:
            return getattr(import_module(home[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return attribute
