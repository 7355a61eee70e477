"""Entry point of the ``margin`` command.

Commands import what they need inside their bodies, so ``margin --help`` stays instant.
Errors margin raises on purpose print as one clear message (exit code 2); anything else
prints a short note (exit code 1). ``--debug`` shows the traceback of either.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from margin.cli.console import err_console, fail, install_name_notes, install_wait_notice
from margin.errors import MarginError

app = typer.Typer(
    name="margin",
    help="margin: what each marketing dollar caused, and where the next one should go.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


@app.callback()
def main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    """margin: what each marketing dollar caused, and where the next one should go."""
    if debug:
        os.environ["MARGIN_DEBUG"] = "1"
    install_wait_notice()  # a busy workspace: say who holds it while waiting
    install_name_notes()  # a channel named in another case: say how it was read


def _register() -> None:
    """Put each module's commands on ``app``, in the order ``margin --help`` lists them.

    Top-level commands are module-level functions; groups are module-level sub-apps.
    """
    from margin.cli import (
        api_commands,
        attribution_command,
        data_commands,
        demo_command,
        experiment_command,
        forecast_command,
        hash_key_commands,
        learning_command,
        loop_command,
        ltv_command,
        mmm_command,
        optimize_command,
        reconcile_command,
        refresh_command,
        report_command,
        world_command,
    )

    app.command()(data_commands.init)
    app.command()(data_commands.ingest)
    app.command("import")(data_commands.import_)
    app.command()(data_commands.check)
    app.command("status")(data_commands.status_)
    app.command()(demo_command.simulate)
    app.command()(demo_command.demo)
    app.add_typer(mmm_command.mmm, name="mmm")
    app.command()(optimize_command.optimize)
    app.command("scenario")(optimize_command.scenario_command)
    app.command()(optimize_command.frontier)
    app.command("forecast")(forecast_command.forecast_command)
    app.command()(attribution_command.attribute)
    app.command()(reconcile_command.reconcile)
    app.add_typer(experiment_command.experiment, name="experiment")
    app.command()(report_command.report)
    app.command("learning-report")(learning_command.learning_report)
    app.command()(refresh_command.refresh)
    app.command()(api_commands.serve)
    app.add_typer(api_commands.keys, name="keys")
    app.add_typer(api_commands.audit, name="audit")
    app.add_typer(hash_key_commands.hash_key, name="hash-key")
    app.add_typer(world_command.world, name="world")
    app.add_typer(loop_command.loop, name="loop")
    app.add_typer(ltv_command.ltv, name="ltv")


_register()


def configure_jax() -> None:
    """Process-wide JAX settings for the command line, set before JAX starts.

    - one CPU device per core (at least 4), so MCMC chains run in parallel
      (``--xla_force_host_platform_device_count``; NumPyro pmaps chains over devices);
    - a persistent compilation cache in ``$XDG_CACHE_HOME/margin/jax`` (default
      ``~/.cache/margin/jax``; ``MARGIN_JAX_CACHE=0`` turns it off, a path moves it), so
      a weekly refit does not recompile what last week's compiled.

    Variables the user already set are left alone. Library users set these themselves
    (``numpyro.set_host_device_count``, ``jax.config``).
    """
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        devices = max(4, os.cpu_count() or 1)
        os.environ["XLA_FLAGS"] = (
            f"{flags} --xla_force_host_platform_device_count={devices}".strip()
        )
    cache = os.environ.get("MARGIN_JAX_CACHE", "")
    if cache != "0" and "JAX_COMPILATION_CACHE_DIR" not in os.environ:
        root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        os.environ["JAX_COMPILATION_CACHE_DIR"] = cache or os.path.join(root, "margin", "jax")
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")


def run() -> None:
    """Console-script entry point with margin's error handling.

    Typer (standalone mode) prints usage errors itself and exits; margin's own errors
    print as one message (exit 2); anything else as a short internal-error note (exit 1).
    """
    debug = "--debug" in sys.argv or os.environ.get("MARGIN_DEBUG") == "1"
    configure_jax()
    try:
        app()
    except MarginError as err:
        if debug:
            err_console.print_exception()
        fail(str(err), code=2)
    except KeyboardInterrupt:
        fail("interrupted", code=130)
    except Exception as err:  # the last line of defence for a CLI user
        if debug:
            err_console.print_exception()
        fail(
            f"internal error: {type(err).__name__}: {err}. Run again with --debug for the traceback, "
            "and report it if it persists",
            code=1,
        )


if __name__ == "__main__":  # pragma: no cover
    run()
