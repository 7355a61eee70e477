"""Parameters checked in one declarative place (as scikit-learn's ``_parameter_constraints``).

A class lists the values each of its parameters accepts as a table of :class:`Constraint`
and calls :func:`check_params` once (in ``__post_init__`` or ``fit``); the error names the
parameter, the value, what is allowed and, where the table says, the fix.

This module imports nothing of margin but the exception tree, so any package may use it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from margin.errors import ConfigError

__all__ = ["Constraint", "check_params"]


@dataclass(frozen=True)
class Constraint:
    """The values one parameter accepts.

    Attributes:
        kind: ``"integer"`` (a Python ``int``, not ``bool``), ``"number"`` (finite ``int``
            or ``float``), ``"boolean"`` or ``"choice"`` (one of :attr:`choices`).
        low, high: inclusive bounds of integers and numbers (``None``: unbounded).
        high_open: the upper bound is excluded (``[low, high)``).
        choices: the allowed values of a ``"choice"``.
        fix: what to do instead, appended to the error.
    """

    kind: Literal["integer", "number", "boolean", "choice"]
    low: float | None = None
    high: float | None = None
    high_open: bool = False
    choices: tuple[str, ...] = ()
    fix: str = ""

    @classmethod
    def integer(cls, low: int, fix: str = "") -> Constraint:
        """An integer ``>= low``."""
        return cls("integer", low=low, fix=fix)

    @classmethod
    def number(cls, low: float, high: float, *, high_open: bool = False) -> Constraint:
        """A finite number in ``[low, high]`` (``[low, high)`` with ``high_open``)."""
        return cls("number", low=low, high=high, high_open=high_open)

    @classmethod
    def one_of(cls, *choices: str, fix: str = "") -> Constraint:
        """One of ``choices``."""
        return cls("choice", choices=choices, fix=fix)

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` is allowed."""
        if self.kind == "boolean":
            return isinstance(value, bool)
        if self.kind == "choice":
            return isinstance(value, str) and value in self.choices
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.kind == "integer" and not isinstance(value, int):
            return False
        if not math.isfinite(value):
            return False
        if self.low is not None and value < self.low:
            return False
        if self.high is None:
            return True
        return value < self.high if self.high_open else value <= self.high

    def allowed(self) -> str:
        """What is allowed, in words (e.g. ``an integer >= 1``)."""
        if self.kind == "boolean":
            return "true or false"
        if self.kind == "choice":
            return f"one of {list(self.choices)}"
        noun = "an integer" if self.kind == "integer" else "a number"
        if self.high is None:
            return f"{noun} >= {_plain(self.low)}"
        close = ")" if self.high_open else "]"
        return f"{noun} in [{_plain(self.low)}, {_plain(self.high)}{close}"


def _plain(bound: float | None) -> str:
    """A bound as written in the table (``1``, not ``1.0``)."""
    if bound is None:
        return "-inf"
    return str(int(bound)) if float(bound).is_integer() else str(bound)


def check_params(
    values: Mapping[str, Any], constraints: Mapping[str, Constraint], *, owner: str = ""
) -> None:
    """Check each of ``values`` that ``constraints`` lists.

    Args:
        values: parameter name → value.
        constraints: parameter name → what it accepts (names it lacks are not checked).
        owner: words put before the parameter's name (e.g. ``"refresh setting "``).

    Raises:
        ConfigError: the first value not allowed, e.g. ``chains must be an integer >= 1;
            got 0``, or ``method 'mcmc' is not one of ['nuts', 'approximate']``.
    """
    for name, value in values.items():
        rule = constraints.get(name)
        if rule is None or rule.accepts(value):
            continue
        fix = f"; {rule.fix}" if rule.fix else ""
        if rule.kind == "choice":
            raise ConfigError(f"{owner}{name} {value!r} is not {rule.allowed()}{fix}")
        raise ConfigError(f"{owner}{name} must be {rule.allowed()}; got {value!r}{fix}")
