"""The static HTML report: one self-contained file that works offline.

:func:`build_report` renders ``templates/report.html`` (Jinja2, autoescaped) with the
view-model of :mod:`margin.report.views`, and inlines everything the page needs: the CSS,
the vendored Chart.js, margin's chart functions, and the view-model as JSON in a
``<script type="application/json">`` tag. No request ever leaves the file: no CDN, no web
fonts, no remote images.
"""

from __future__ import annotations

import functools
import json
import math
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from margin.errors import ConfigError
from margin.report.views import build_view, load_json, read_run
from margin.types import Interval
from margin.wording import abbreviate, kpi_amount, kpi_span

if TYPE_CHECKING:
    import jinja2

__all__ = ["CHART_JS", "build_report", "environment", "json_for_script", "static_text"]

CHART_JS = "vendor/chart.js/chart.umd.min.js"
"""The vendored Chart.js build, relative to ``margin/report/static``."""
_SCRIPTS = (CHART_JS, "margin-charts.js", "margin-report.js", "margin-breakdown.js",
            "margin-ltv.js")  # fmt: skip


def static_text(name: str) -> str:
    """A file of ``margin/report/static`` as text (``name`` relative to that folder)."""
    return (resources.files("margin.report") / "static" / name).read_text(encoding="utf-8")


def json_for_script(value: Any) -> str:
    """JSON safe inside a ``<script>`` element: ``<``, ``>`` and ``&`` as ``\\u`` escapes.

    So ``</script>`` or ``<!--`` in a channel name cannot end the element early; the text
    parses back to ``value`` with ``JSON.parse``. Non-finite floats become ``null``.
    """
    text = json.dumps(_finite(value), ensure_ascii=False, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _script(name: str) -> str:
    """A static script, checked to be safe to inline in a ``<script>`` element."""
    text = static_text(name)
    if "</script" in text.lower():
        raise ConfigError(f"static script {name} contains '</script' and cannot be inlined")
    return text


def _money(value: float | None, symbol: str = "") -> str:
    """Money with the currency prefix ``symbol`` (:func:`margin.wording.abbreviate`'s rule)."""
    if value is None:
        return "–"
    text = abbreviate(value)
    if text == "–":
        return text
    return f"-{symbol}{text[1:]}" if text.startswith("-") else f"{symbol}{text}"


def _span(stat: dict[str, float], symbol: str = "") -> str:
    return f"{_money(stat['mean'], symbol)} [{_money(stat['p05'], symbol)}, {_money(stat['p95'], symbol)}]"


def _ratio(stat: dict[str, float]) -> str:
    return f"{stat['mean']:.2f}× [{stat['p05']:.2f}, {stat['p95']:.2f}]"


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _pct_span(stat: dict[str, float]) -> str:
    return f"{_pct(stat['mean'])} [{_pct(stat['p05'])}, {_pct(stat['p95'])}]"


def _num(value: float | int | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def _kpi(value: float, units: dict[str, Any]) -> str:
    """A KPI amount in the run's unit (``units`` of :func:`margin.report.views.units_of`)."""
    return kpi_amount(value, units["kpi_type"], units["currency"], units["kpi_name"])


def _kpi_span(stat: dict[str, float], units: dict[str, Any]) -> str:
    """A KPI interval in the run's unit, the unit said once."""
    return kpi_span(
        Interval.from_json(stat), units["kpi_type"], units["currency"], units["kpi_name"]
    )


@functools.cache
def environment() -> jinja2.Environment:
    """The Jinja2 environment of margin's templates (autoescape on, strict undefined)."""
    import jinja2

    root = resources.files("margin.report") / "templates"
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(root)),
        autoescape=jinja2.select_autoescape(("html", "xml"), default=True),
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(
        money=_money, span=_span, ratio=_ratio, pct=_pct, pctspan=_pct_span, num=_num,
        kpi=_kpi, kpispan=_kpi_span,
    )  # fmt: skip
    return env


def _plan_body(plan: str | Path | dict[str, Any] | None) -> dict[str, Any] | None:
    if plan is None or isinstance(plan, dict):
        return plan
    path = Path(plan)
    if not path.is_file():
        raise ConfigError(f"plan file {path} does not exist; pass a plan.json written by margin")
    body = load_json(path, "plan")
    missing = [k for k in ("budget", "weeks", "allocation", "expected_gain") if k not in body]
    if missing:
        raise ConfigError(f"plan {path} lacks {missing}; pass a plan.json written by margin")
    return body


def build_report(
    run_dir: str | Path,
    *,
    plan: str | Path | dict[str, Any] | None = None,
    data_quality: dict[str, Any] | None = None,
    currency: str | None = None,
    curves: dict[str, Any] | None = None,
    ltv: dict[str, Any] | None = None,
) -> str:
    """The report of an MMM run as one self-contained HTML document.

    Args:
        run_dir: the run folder (``summary.json``; ``curves.json`` when present).
        plan: a ``plan.json`` path or body made from this run (adds the reallocation).
        data_quality: ``Report.to_dict()`` of the workspace's data-quality check (the
            caller gathers it: :func:`margin.data.rules.quality.workspace_quality`).
        currency: the workspace's currency (default: the summary's ``currency``, else none).
        curves: response curves to draw instead of the run's ``curves.json``: the caller
            that can evaluate the model passes curves extended to reach the plan
            (:func:`margin.report.views.curve_reach` says when and how far).
        ltv: the workspace's customer-value run (:func:`margin.ltv.runs.load_ltv_run`):
            adds the "Customer value" section (:mod:`margin.report.ltv`).

    Raises:
        ConfigError: a missing or invalid run folder or plan, or a malformed ``ltv`` run.
    """
    summary, saved = read_run(run_dir)
    curves = curves if curves is not None else saved
    plan_body = _plan_body(plan)
    view = build_view(
        summary, curves=curves, plan=plan_body, data_quality=data_quality, currency=currency
    )
    from margin.report.ltv import ltv_view

    view["ltv"] = None if ltv is None else ltv_view(ltv, view["meta"].get("currency"))
    scripts = {name: _script(name) for name in _SCRIPTS}
    import markupsafe

    return (
        environment()
        .get_template("report.html")
        .render(
            view=view,
            payload=markupsafe.Markup(json_for_script(view)),
            css=markupsafe.Markup(static_text("margin.css")),
            chart_js=markupsafe.Markup(scripts[CHART_JS]),
            charts_js=markupsafe.Markup(scripts["margin-charts.js"]),
            report_js=markupsafe.Markup(scripts["margin-report.js"]),
            breakdown_js=markupsafe.Markup(scripts["margin-breakdown.js"]),
            ltv_js=markupsafe.Markup(scripts["margin-ltv.js"]),
        )
    )
