"""The package rules of ARCHITECTURE.md §2 and the size budgets, enforced from the source.

Every module under ``src/margin`` is parsed with :mod:`ast`; every import it makes
(module level, inside functions, under ``TYPE_CHECKING``; ``import margin.x`` and
``from margin.x import y``) is checked against a small declarative table of what each
package may import. Current exceptions are listed with a one-line reason; an exception
that no longer occurs fails the test too, so the list stays honest.

The size budgets (STYLE.md, habit 9): functions at most 60 lines and 8 parameters
(``self``/``cls`` not counted, keyword-only ones counted: ruff's ``PLR0913`` with
``max-args = 8`` counts the same, and ``pyproject.toml`` turns it on), modules at most
800 lines. Existing violations are listed with a reason each.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = SRC / "margin"

# -- the package rules --------------------------------------------------------------

CORE = (
    "margin.types",
    "margin.errors",
    "margin.protocols",
    "margin.checks",
    "margin.limits",
    "margin.cancellation",
    "margin.params",
    "margin.exports",
    "margin.wording",
)
"""Core modules: any package may import them; they import only each other."""

LAYERS: dict[str, str] = {
    **dict.fromkeys(CORE, "core"),
    "margin.data.simulator": "simulator",
    "margin.data": "data",
    "margin.engines": "engines",
    "margin.mmm": "mmm",
    "margin.attribution": "attribution",
    "margin.experiments": "experiments",
    "margin.ltv": "ltv",
    "margin.optimize": "optimize",
    "margin.refresh": "refresh",
    "margin.report": "report",
    "margin.workflows": "workflows",
    "margin.loop": "loop",
    "margin.api": "api",
    "margin.cli": "cli",
    "margin.__main__": "cli",
}
"""Module prefix → layer (the longest prefix wins). ``margin`` itself is the facade."""

MEASURING = {"data", "engines", "mmm", "attribution", "experiments", "ltv"}
ALLOWED: dict[str, set[str]] = {
    "core": {"core"},
    "data": {"core", "data"},
    "simulator": {"core", "data", "simulator"},
    "engines": {"core", "data", "engines"},
    "mmm": {"core", "data", "mmm"},
    "attribution": {"core", "data", "engines", "attribution"},
    "experiments": {"core", "data", "engines", "experiments"},
    "ltv": {"core", "data", "engines", "ltv"},
    "optimize": {"core", "optimize"},
    "refresh": {"core", "optimize", "refresh", *MEASURING},
    "report": {"core", "report"},
    "workflows": {
        "core",
        "simulator",
        "optimize",
        "refresh",
        "report",
        "workflows",
        "loop",
        *MEASURING,
    },
    "loop": {"core", "optimize", "refresh", "loop", *MEASURING},
    "api": {
        "core",
        "optimize",
        "refresh",
        "report",
        "workflows",
        "loop",
        "api",
        "facade",
        *MEASURING,
    },
    "cli": set(LAYERS.values()) | {"facade"},
    "facade": {"core", "data", "simulator"},
}
"""Layer → the layers its modules may import (ARCHITECTURE.md §2)."""

ALSO: dict[str, dict[str, str]] = {
    "report": {
        "margin.data.workspace.runs": "the report reads a run folder through the runs owner"
    },
}
"""Layer → modules it may import beyond its layers → why."""

NO_MATHS = {"report", "workflows", "loop", "api", "cli"}
MATHS = ("jax", "numpyro")
"""``report``, ``workflows``, ``loop``, ``api`` and ``cli`` hold no maths: they never import JAX or NumPyro."""

SIMULATOR_USERS: dict[str, str] = {
    "margin.workflows.demo": "margin simulate and margin demo run on a simulated world",
    "margin.cli.world_command": "margin world drives the simulator as a world that reacts to plans",
    "margin": "the facade names simulate_world (lazily) for users; nothing in margin calls it",
}
"""Product code never imports the simulator, except these modules (beside the simulator)."""

EXCEPTIONS: dict[tuple[str, str], str] = {
    ("margin.data.simulator.response", "margin.optimize.parametric"): (
        "the simulator hands its true response to the optimizer as the generic parametric "
        "ResponseModel (demo and benchmarks score plans with it); nothing else of optimize"
    ),
    ("margin.report.views", "margin.mmm.config"): (
        "the priors table names the priors that differ from mmm's defaults (light constants, "
        "no JAX); goes when summary.json marks its defaults"
    ),
}
"""``(importing module, imported prefix)`` → why it is allowed for now."""


VERSION = ("margin", "margin.__version__")
"""``import margin`` for ``margin.__version__``: the facade imports nothing eagerly."""


def layer_of(module: str) -> str | None:
    """The layer of a ``margin`` module (``None`` outside margin)."""
    if module == "margin":
        return "facade"
    if not module.startswith("margin."):
        return None
    best = max(
        (p for p in LAYERS if module == p or module.startswith(p + ".")), key=len, default=""
    )
    return LAYERS.get(best, "unknown")


def imported_names(module: str, source: str, *, package: bool = False) -> list[tuple[int, str]]:
    """``(line, imported module)`` for every import in ``source`` (any depth).

    ``from a.b import c`` gives ``a.b.c`` (``c`` may be a submodule); relative imports are
    resolved against ``module`` (``package``: ``module`` is a package's ``__init__``).
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")
                anchor = parts[: len(parts) - node.level + (1 if package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def violations(module: str, source: str, *, package: bool = False) -> list[str]:
    """What ``source`` (the text of ``module``) imports against the rules, one line each."""
    here = layer_of(module)
    assert here not in (None, "unknown"), f"{module}: classify it in LAYERS"
    out = []
    for line, name in imported_names(module, source, package=package):
        top = name.split(".")[0]
        if here in NO_MATHS and top in MATHS:
            out.append(f"{module}:{line} imports {name}: {here} holds no maths")
        target = layer_of(name)
        if target is None or name in VERSION or _excepted(module, name) or _also(here, name):
            continue
        if target == "unknown":
            out.append(f"{module}:{line} imports {name}: classify it in LAYERS")
        elif target not in ALLOWED[here]:
            out.append(f"{module}:{line} imports {name}: {here} may not import {target}")
        elif target == "simulator" and here != "simulator" and module not in SIMULATOR_USERS:
            out.append(f"{module}:{line} imports {name}: product code never imports the simulator")
    return out


def _also(layer: str, name: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in ALSO.get(layer, {}))


def _excepted(module: str, name: str) -> bool:
    return any(
        module == source and (name == prefix or name.startswith(prefix + "."))
        for source, prefix in EXCEPTIONS
    )


def _modules() -> list[tuple[str, Path, bool]]:
    """``(module name, path, is a package)`` of every module under ``src/margin``."""
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        package = parts[-1] == "__init__"
        out.append((".".join(parts[:-1] if package else parts), path, package))
    return out


def test_every_import_in_margin_follows_the_package_rules() -> None:
    found = [
        v
        for module, path, package in _modules()
        for v in violations(module, path.read_text(), package=package)
    ]
    assert found == [], "\n".join(found)


def test_every_listed_exception_still_occurs() -> None:
    imports = {
        (module, name)
        for module, path, package in _modules()
        for _, name in imported_names(module, path.read_text(), package=package)
    }
    stale = [
        (source, prefix)
        for source, prefix in EXCEPTIONS
        if not any(m == source and (n == prefix or n.startswith(prefix + ".")) for m, n in imports)
    ]
    users = {m for m, n in imports if layer_of(n) == "simulator" and layer_of(m) != "simulator"}
    assert stale == [], f"remove these exceptions, the imports are gone: {stale}"
    assert set(SIMULATOR_USERS) <= users, f"remove {set(SIMULATOR_USERS) - users}"


@pytest.mark.parametrize(
    ("module", "source", "said"),
    [
        ("margin.optimize.fake", "from margin.mmm.model import media_response", "optimize may not import mmm"),
        ("margin.mmm.fake", "def f():\n    import margin.optimize.allocate\n", "mmm may not import optimize"),
        ("margin.data.fake", "from margin.mmm import MarketingMixModel", "data may not import mmm"),
        ("margin.data.fake", "from margin.engines.base import Engine", "data may not import engines"),
        ("margin.report.fake", "import jax.numpy as jnp", "report holds no maths"),
        ("margin.api.fake", "def f():\n    from numpyro import sample\n", "api holds no maths"),
        ("margin.report.fake", "from margin.data.workspace.store import Workspace", "report may not import data"),
        ("margin.optimize.fake", "from margin.data.simulator import simulate_world", "optimize may not import simulator"),
        ("margin.refresh.fake", "from margin.data.simulator import simulate_world", "refresh may not import simulator"),
        ("margin.cli.fake", "from margin.data.simulator import World", "never imports the simulator"),
        ("margin.data.fake", "from margin.data import simulator", "data may not import simulator"),
        ("margin.mmm.fake", "from ..optimize import allocate", "mmm may not import optimize"),
        ("margin.optimize.fake", "from margin.newthing import x", "classify it in LAYERS"),
    ],
)  # fmt: skip
def test_the_checker_catches_a_forbidden_import(module: str, source: str, said: str) -> None:
    (found,) = violations(module, source)
    assert said in found


def test_the_checker_passes_allowed_imports() -> None:
    source = (
        "import numpy as np\nfrom margin.types import Interval\nfrom margin.data.panel.marketing_data import X\n"
        "from . import transforms\nfrom margin.errors import ConfigError\n"
    )
    assert violations("margin.mmm.fake", source) == []
    assert violations("margin.optimize.fake", "from margin.protocols import ResponseModel") == []


# -- size budgets --------------------------------------------------------------------

MAX_FUNCTION_LINES = 60
MAX_PARAMETERS = 8
MAX_MODULE_LINES = 800

LONG_FUNCTIONS: dict[str, str] = {
    "margin.cli.attribution_command:attribute": "a Typer command: one parameter per option",
    "margin.cli.data_commands:ingest": "a Typer command: one parameter per option",
    "margin.cli.experiment_command:analyze": "a Typer command: one parameter per option",
    "margin.cli.experiment_command:design": "a Typer command: one parameter per option",
    "margin.cli.loop_command:loop_run": "a Typer command: one parameter per option",
    "margin.cli.optimize_command:optimize": "a Typer command: one parameter per option",
    "margin.api.app:create_app": "the app's wiring: one middleware or router per line",
    "margin.data.ingest.pipeline:ingest_file": "one argument per ingestion option, each documented",
    "margin.experiments.analysis:_result": "assembles the frozen result from every estimate",
    "margin.experiments.power:simulate_power": "the power simulation's documented knobs",
    "margin.mmm.inference:run_nuts": "NUTS's knobs and its progress reporting (run_inference passes a Nuts object's fields)",
    "margin.mmm.inference:run_laplace": "the Laplace fit's loop with progress and checks",
    "margin.mmm.response:future_controls": "validates a user's table of known controls, each error named",
    "margin.optimize.caveats:plan_caveats": "one block per caveat, in the order they are said",
    "margin.optimize.frontier:efficient_frontier": "the frontier's documented knobs and its warm-started sweep",
    "margin.optimize.information:value_of_information": "the documented steps of the value of information",
    "margin.optimize.proof:check_optimality": "the KKT check, one condition per block",
    "margin.optimize.report:build_result": "assembles the frozen plan from every part",
}
"""``module:qualname`` over 60 lines → why."""

MANY_PARAMETERS: dict[str, str] = {
    "margin.cli.attribution_command:attribute": "a Typer command: one parameter per option",
    "margin.cli.data_commands:ingest": "a Typer command: one parameter per option",
    "margin.cli.experiment_command:analyze": "a Typer command: one parameter per option",
    "margin.cli.experiment_command:design": "a Typer command: one parameter per option",
    "margin.cli.forecast_command:forecast_command": "a Typer command: one parameter per option",
    "margin.cli.loop_command:loop_run": "a Typer command: one parameter per option",
    "margin.cli.ltv_command:by_channel": "a Typer command: one parameter per option",
    "margin.cli.ltv_command:fit": "a Typer command: one parameter per option",
    "margin.cli.mmm_command:fit": "a Typer command: one parameter per option",
    "margin.cli.optimize_command:optimize": "a Typer command: one parameter per option",
    "margin.cli.refresh_command:refresh": "a Typer command: one parameter per option",
    "margin.data.ingest.pipeline:ingest_file": "one argument per ingestion option, each documented",
    "margin.experiments.analysis:analyze": "the analysis's documented options (keyword-only)",
    "margin.experiments.analysis:_result": "assembles the frozen result from every estimate",
    "margin.experiments.power:simulate_power": "the power simulation's documented knobs",
    "margin.experiments.simulate:simulate_geo_panel": "the synthetic panel's documented knobs",
    "margin.ltv.hierarchical:fit_bgnbd_hierarchical": "lifetimes' columns, the channel, NUTS's knobs (keyword-only)",
    "margin.mmm.inference:run_laplace": "the Laplace fit's knobs and its progress callback",
    "margin.mmm.inference:run_nuts": "NUTS's knobs, flat for the kernel (run_inference passes a Nuts object's fields)",
    "margin.optimize.frontier:efficient_frontier": "the frontier's documented knobs (keyword-only)",
    "margin.optimize.report:_allocations": "the parts of one plan, each an array",
    "margin.refresh.ledger:insert_refresh_row": "one column per argument of the refresh's row",
}
"""``module:qualname`` over 8 parameters → why."""

LONG_MODULES: dict[str, str] = {}
"""Modules over 800 lines → why (none today)."""


def _functions(
    tree: ast.AST, prefix: str = ""
) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    out: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]] = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            name = f"{prefix}{node.name}"
            out += [(name, node), *_functions(node, f"{name}.")]
        elif isinstance(node, ast.ClassDef):
            out += _functions(node, f"{prefix}{node.name}.")
        else:
            out += _functions(node, prefix)
    return out


def parameter_count(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Named parameters, ``self``/``cls`` not counted, ``*args``/``**kwargs`` not counted."""
    args = node.args
    named = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    if named and named[0].arg in ("self", "cls"):
        named = named[1:]
    return len(named)


def over_budget(module: str, source: str) -> tuple[list[str], list[str], bool]:
    """``(long functions, functions with many parameters, module too long)`` of ``source``."""
    long, many = [], []
    for name, node in _functions(ast.parse(source)):
        key = f"{module}:{name}"
        if (node.end_lineno or node.lineno) - node.lineno + 1 > MAX_FUNCTION_LINES:
            long.append(key)
        if parameter_count(node) > MAX_PARAMETERS:
            many.append(key)
    return long, many, len(source.splitlines()) > MAX_MODULE_LINES


def test_functions_and_modules_keep_their_size_budgets() -> None:
    long: list[str] = []
    many: list[str] = []
    big: list[str] = []
    for module, path, _ in _modules():
        f, p, m = over_budget(module, path.read_text())
        long += f
        many += p
        big += [module] if m else []
    assert sorted(set(long) - set(LONG_FUNCTIONS)) == [], (
        f"over {MAX_FUNCTION_LINES} lines: split them"
    )
    assert sorted(set(many) - set(MANY_PARAMETERS)) == [], (
        f"over {MAX_PARAMETERS} parameters: group them"
    )
    assert sorted(set(big) - set(LONG_MODULES)) == [], f"over {MAX_MODULE_LINES} lines: split them"
    stale = sorted(
        (set(LONG_FUNCTIONS) - set(long))
        | (set(MANY_PARAMETERS) - set(many))
        | (set(LONG_MODULES) - set(big))
    )
    assert stale == [], f"within budget now: remove from the exception tables: {stale}"


def test_the_size_checker_catches_a_long_function_and_many_parameters() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(60))
    source = f"def long():\n{body}\n\n\nclass A:\n    def many(self, a, b, c, d, *, e, f, g, h, i):\n        pass\n"
    long, many, big = over_budget("margin.fake", source)
    assert long == ["margin.fake:long"]
    assert many == ["margin.fake:A.many"]
    assert not big
    assert over_budget("margin.fake", "x = 1\n" * 801)[2]
