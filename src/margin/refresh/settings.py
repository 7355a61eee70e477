"""Refresh settings: where new files arrive, which spec to fit, where runs go, how to fit.

They are stored in the workspace ``meta`` table (key :data:`META_KEY`, JSON), so cron
and the REST API run ``refresh(ws)`` with no arguments once ``margin refresh --drop ...
--spec ...`` has been run by hand.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from margin.errors import ConfigError, WorkspaceError
from margin.mmm.settings import METHODS, PARAMETERS, Inference, Laplace, Nuts, inference_for
from margin.params import check_params

if TYPE_CHECKING:
    from margin.data.workspace.store import Workspace

__all__ = ["META_KEY", "METHODS", "RefreshSettings", "load_settings", "save_settings"]

META_KEY = "refresh_settings"
_NUTS, _LAPLACE = Nuts(), Laplace()


@dataclass(frozen=True)
class RefreshSettings:
    """What a refresh reads and how it fits.

    The fit's settings are stored flat (the workspace's stored JSON and ``margin refresh``'s
    flags name them so); :attr:`inference` is them as a :class:`~margin.mmm.settings.Nuts`
    or :class:`~margin.mmm.settings.Laplace`, whose defaults they share.

    Attributes:
        drop: the drop folder new files arrive in (see :mod:`margin.refresh.drop`).
        spec: the spec TOML the model is fitted with.
        runs: folder for run and refresh artifacts; ``None`` means ``<workspace folder>/runs``.
        method: ``"nuts"`` or ``"approximate"`` (posterior mode + Laplace: fast, labelled approximate).
        chains, draws, warmup: sampler settings (``warmup`` is unused by the approximate mode).
        seed: the fit's seed (same data, spec and seed give the same numbers).
        approximate_steps: optimisation steps of the approximate method.
        holdout_weeks: last weeks held out of the fit and predicted (MAPE, R²).
        calibrate: use the workspace's lift tests.
    """

    drop: Path
    spec: Path
    runs: Path | None = None
    method: str = _NUTS.method
    chains: int = _NUTS.chains
    draws: int = _NUTS.draws
    warmup: int = _NUTS.warmup
    seed: int = 0
    approximate_steps: int = _LAPLACE.steps
    holdout_weeks: int = 0
    calibrate: bool = True

    def __post_init__(self) -> None:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        check_params(values, PARAMETERS, owner="refresh setting ")

    @property
    def inference(self) -> Inference:
        """The fit's inference settings."""
        return inference_for(
            self.method,
            chains=self.chains,
            draws=self.draws,
            warmup=self.warmup,
            approximate_steps=self.approximate_steps,
        )

    def runs_folder(self, workspace: Workspace) -> Path:
        """Where runs go: ``runs``, or ``runs/`` beside the workspace file."""
        if self.runs is not None:
            return self.runs
        return workspace.path.resolve().parent / "runs"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for name in ("drop", "spec", "runs"):
            out[name] = None if out[name] is None else str(out[name])
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any], *, source: str = "refresh settings") -> RefreshSettings:
        """Settings from their :meth:`to_dict` form; unknown or missing keys are errors."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - names)
        missing = sorted({"drop", "spec"} - set(raw))
        if unknown or missing:
            raise ConfigError(
                f"{source}: unknown keys {unknown} / missing keys {missing}; "
                f"expected keys among {sorted(names)}. Run margin refresh --drop DIR --spec SPEC "
                "to store them again"
            )
        values: dict[str, Any] = dict(raw)
        for name in ("drop", "spec", "runs"):
            if values.get(name) is not None:
                values[name] = Path(values[name])
        return cls(**values)

    def absolute(self) -> RefreshSettings:
        """The same settings with absolute paths (cron runs from another folder)."""
        return RefreshSettings(
            **{
                **{f.name: getattr(self, f.name) for f in fields(self)},
                "drop": self.drop.expanduser().resolve(),
                "spec": self.spec.expanduser().resolve(),
                "runs": None if self.runs is None else self.runs.expanduser().resolve(),
            }
        )


def load_settings(workspace: Workspace) -> RefreshSettings | None:
    """The workspace's stored refresh settings, or ``None`` when none were saved."""
    row = workspace.con.execute("SELECT value FROM meta WHERE key = ?", [META_KEY]).fetchone()
    if row is None:
        return None
    try:
        raw = json.loads(str(row[0]))
    except json.JSONDecodeError as err:
        raise WorkspaceError(
            f"workspace {workspace.path}: the stored refresh settings are not valid JSON ({err}); "
            "store them again with margin refresh --drop DIR --spec SPEC"
        ) from err
    if not isinstance(raw, dict):
        raise WorkspaceError(
            f"workspace {workspace.path}: the stored refresh settings are not a JSON object; "
            "store them again with margin refresh --drop DIR --spec SPEC"
        )
    return RefreshSettings.from_dict(raw, source=f"workspace {workspace.path} refresh settings")


def save_settings(workspace: Workspace, settings: RefreshSettings) -> RefreshSettings:
    """Store ``settings`` (paths made absolute) in the workspace; returns what was stored."""
    stored = settings.absolute()
    with workspace.transaction() as con:
        con.execute("DELETE FROM meta WHERE key = ?", [META_KEY])
        con.execute(
            "INSERT INTO meta VALUES (?, ?)",
            [META_KEY, json.dumps(stored.to_dict(), sort_keys=True)],
        )
    return stored
