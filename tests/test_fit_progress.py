"""Progress of long fits: NUTS tells its warm-up and sampling iterations, the approximate
mode its optimisation steps, and reporting changes no draw."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro  # type: ignore[import-untyped]
import numpyro.distributions as dist  # type: ignore[import-untyped]

from margin.mmm.inference import run_laplace, run_nuts

Y = np.random.default_rng(3).normal(2.0, 0.5, size=30).astype(np.float32)


def model(y: jax.Array) -> None:
    mu = numpyro.sample("mu", dist.Normal(0.0, 2.0))
    sigma = numpyro.sample("sigma", dist.LogNormal(0.0, 0.5))
    with numpyro.plate("obs", y.shape[0]):
        numpyro.sample("y", dist.Normal(mu, sigma), obs=y)


class Recorder:
    """Collects the ``(phase, done, total)`` events."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int, int]] = []

    def __call__(self, phase: str, done: int, total: int) -> None:
        self.events.append((phase, done, total))

    def phase(self, name: str) -> list[tuple[int, int]]:
        return [(done, total) for p, done, total in self.events if p == name]


def _check_phase(events: list[tuple[int, int]], total: int) -> None:
    done = [d for d, _ in events]
    assert events, "no events"
    assert all(t == total for _, t in events)
    assert done == sorted(done)
    assert len(set(done)) == len(done)
    assert done[-1] == total


def test_nuts_reports_each_phase_and_draws_are_unchanged() -> None:
    args = (jnp.asarray(Y),)
    settings: dict[str, Any] = {"seed": 5, "chains": 2, "draws": 150, "warmup": 120}
    quiet = run_nuts(model, args, **settings)
    seen = Recorder()
    told = run_nuts(model, args, **settings, progress=seen)
    _check_phase(seen.phase("warmup"), 120)
    _check_phase(seen.phase("sampling"), 150)
    phases = [p for p, _, _ in seen.events]
    assert phases == sorted(phases, key=["warmup", "sampling"].index)
    for name, value in quiet.samples.items():
        np.testing.assert_array_equal(told.samples[name], value, err_msg=name)
    np.testing.assert_array_equal(told.num_steps, quiet.num_steps)


def test_laplace_reports_optimisation_steps() -> None:
    seen = Recorder()
    settings: dict[str, Any] = {"seed": 0, "chains": 1, "draws": 50, "steps": 40, "starts": 2}
    told = run_laplace(model, (jnp.asarray(Y),), **settings, progress=seen)
    _check_phase(seen.phase("optimizing"), 80)
    quiet = run_laplace(model, (jnp.asarray(Y),), **settings)
    for name, value in quiet.samples.items():
        np.testing.assert_array_equal(told.samples[name], value, err_msg=name)


def test_fit_bar_takes_events_on_a_terminal_and_off_it() -> None:
    import io

    from rich.console import Console

    from margin.cli import console as cli_console

    screen = Console(file=io.StringIO(), force_terminal=True, width=100)
    with cli_console.FitBar(screen) as bar:
        for done in range(0, 11, 5):
            bar("warmup", done, 10)
        bar("sampling", 10, 10)
    log = io.StringIO()
    piped = Console(file=log, force_terminal=False, width=100)
    with cli_console.FitBar(piped) as bar:
        bar("warmup", 1, 10)  # a quick fit says nothing
        assert log.getvalue() == ""
        bar._logged -= cli_console.LOG_EVERY
        bar("sampling", 3, 10)
    assert "sampling: 3/10" in log.getvalue()


def test_estimator_passes_progress_to_the_approximate_fit(tmp_path: Path) -> None:
    from margin.data.panel.marketing_data import load_panel
    from margin.data.panel.spec import load_spec
    from margin.data.simulator import WorldParams, simulate_world, write_world
    from margin.data.simulator.params import DEFAULT_CHANNELS
    from margin.mmm import MarketingMixModel, model_config

    params = WorldParams.national(n_weeks=40, channels=DEFAULT_CHANNELS[:2], n_users=200)
    write_world(simulate_world(params, seed=2), tmp_path)
    spec = load_spec(tmp_path / "spec.toml")
    panel = load_panel(spec, data=tmp_path / "panel.csv")
    seen = Recorder()
    model = MarketingMixModel(
        model_config(spec.raw, panel.channels), seed=1, progress=seen,
        method="approximate", chains=1, draws=50, approximate_steps=30,
    )  # fmt: skip
    model.fit(panel, [])
    starts = model.inference.starts  # type: ignore[union-attr]
    _check_phase(seen.phase("optimizing"), starts * 30)
