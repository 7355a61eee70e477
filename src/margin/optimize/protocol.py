"""The optimizer's view of a model: :class:`~margin.protocols.ResponseModel` (a core type).

Kept so ``margin.optimize.protocol`` imports keep working; the protocols live in
:mod:`margin.protocols`.
"""

from __future__ import annotations

from margin.protocols import FittedResponse, ResponseModel
from margin.types import FloatArray

__all__ = ["FittedResponse", "FloatArray", "ResponseModel"]
