"""Customer value at scale: margin beside lifetimes and PyMC-Marketing (MAP) on the same data.

One command::

    .venv/bin/python bench/ltv_scale.py [--customers 1000000] [--small 100000]
        [--tools margin lifetimes pymc] [--timeout 900] [--doc PATH] [--update-docs]

1. Writes ``--customers`` customers with about 10 transactions each (about 10 M rows) as
   one Parquet file ``customer_id, ts, amount`` into ``~/.cache/margin-bench/ltv/``
   (reused when present), and the same for ``--small`` customers (another seed): a BG/NBD
   purchase process with CDNOW's dropout (a 0.793, b 2.426) and more frequent buyers
   (r 1.0, α 1.0 per week), Gamma-Gamma spend with CDNOW's p 6.25, q 3.74, γ 15.44;
   acquisitions spread over the first 12 weeks, observed until week 52
   (:func:`margin.data.simulator.customers.purchase_process`, seeded).
2. Creates each peer's own virtual environment under ``~/.cache/margin-bench/venvs/``
   (``ltv-lifetimes``, ``ltv-pymc``; pinned versions from PyPI, once).
3. Runs each tool in its own process under ``/usr/bin/time -v`` (peak memory), with a
   timeout, via ``bench/peers/ltv_*_runner.py``: Parquet → per-customer summaries (daily
   periods, recency and T in weeks) → BG/NBD → Gamma-Gamma on the repeat customers, each
   stage timed by the runner. A peer that does not finish the large file within
   ``--timeout`` is reported as such; every tool also runs on the small file.
4. Prints the tables (times, memory, fitted parameters beside the truth) and writes the
   ``## Customer value at scale`` section to ``--doc`` (default ``docs/benchmarks.md``
   only with ``--update-docs``; otherwise ``~/.cache/margin-bench/ltv/section.md``).

Before timing, it waits (at most ``--wait`` seconds) while ``bench/loop.py`` runs on the
machine, and records the load average beside every row.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mmm_peers import base_python, loadavg, machine, peer_versions

from margin.data.simulator.customers import draw_purchase_rates, purchase_process
from margin.data.simulator.params import LtvParams

ROOT = Path(__file__).resolve().parent.parent
WORK = Path.home() / ".cache" / "margin-bench"
DATA = WORK / "ltv"
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "## Customer value at scale"

# The world: BG/NBD with CDNOW's dropout and faster buyers; CDNOW's Gamma-Gamma spend.
TRUTH = {
    "bgnbd": {"r": 1.0, "alpha": 1.0, "a": 0.793, "b": 2.426},
    "gamma_gamma": {"p": 6.25, "q": 3.74, "gamma": 15.44},
}
ACQUISITION_WEEKS = 12.0
OBSERVED_WEEKS = 52.0
START = np.datetime64("2024-01-01T00:00:00", "ms")

VENVS: dict[str, list[str]] = {
    "ltv-lifetimes": [
        "lifetimes==0.11.3",
        "numpy==1.26.4",
        "scipy==1.11.4",
        "pandas==2.1.4",
        "pyarrow==17.0.0",
    ],
    "ltv-pymc": ["pymc-marketing==1.3.0", "pyarrow==17.0.0"],
}
TOOLS: dict[str, tuple[str | None, str]] = {
    # name: (venv, runner); venv None = the project venv.
    "margin": (None, "ltv_margin_runner.py"),
    "lifetimes": ("ltv-lifetimes", "ltv_lifetimes_runner.py"),
    "pymc": ("ltv-pymc", "ltv_pymc_runner.py"),
}
VERSIONS = {
    "margin": ["margin", "duckdb", "jax", "numpy"],
    "lifetimes": ["lifetimes", "pandas", "numpy", "scipy", "autograd"],
    "pymc": ["pymc-marketing", "pymc", "pytensor", "pandas", "numpy", "scipy"],
}
LABELS = {"margin": "margin", "lifetimes": "lifetimes", "pymc": "PyMC-Marketing (MAP)"}


# ---------------------------------------------------------------- data


def make_transactions(path: Path, n_customers: int, seed: int) -> dict[str, Any]:
    """Write ``n_customers`` customers' transactions to ``path`` (Parquet); return its facts.

    Reused when ``path`` and its ``.json`` facts exist for the same size and seed.
    """
    facts_path = path.with_suffix(".json")
    wanted = {"n_customers": n_customers, "seed": seed, "truth": TRUTH}
    if path.exists() and facts_path.exists():
        facts: dict[str, Any] = json.loads(facts_path.read_text())
        if {k: facts.get(k) for k in wanted} == wanted:
            return facts
    import pyarrow as pa
    import pyarrow.parquet as pq

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    g = TRUTH["gamma_gamma"]
    ltv = LtvParams(**TRUTH["bgnbd"], p_shape=g["p"], q=g["q"], gamma=g["gamma"])
    rate, dropout = draw_purchase_rates(n_customers, ltv, rng)
    acquired = rng.uniform(0.0, ACQUISITION_WEEKS, n_customers)
    horizon = np.full(n_customers, OBSERVED_WEEKS)
    repeat, weeks, _ = purchase_process(rate, dropout, acquired, horizon, rng)
    customer = np.concatenate([np.arange(n_customers), repeat])
    weeks = np.concatenate([acquired, weeks])
    scale = rng.gamma(g["q"], 1.0 / g["gamma"], n_customers)  # ν per customer
    amount = np.round(rng.gamma(g["p"], 1.0 / scale[customer]), 2)
    ms = np.round(weeks * 7 * 86_400_000).astype(np.int64)
    order = np.argsort(ms, kind="stable")
    table = pa.table(
        {
            "customer_id": pa.array(customer[order] + 1, pa.int64()),
            "ts": pa.array((START + ms[order].astype("timedelta64[ms]")), pa.timestamp("ms")),
            "amount": pa.array(np.maximum(amount[order], 0.01), pa.float64()),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=1_000_000)
    facts = {
        **wanted,
        "n_transactions": int(table.num_rows),
        "observed_weeks": OBSERVED_WEEKS,
        "acquisition_weeks": ACQUISITION_WEEKS,
        "bytes": path.stat().st_size,
        "seconds_to_write": round(time.perf_counter() - t0, 1),
    }
    facts_path.write_text(json.dumps(facts, indent=2) + "\n")
    return facts


# ---------------------------------------------------------------- venvs and runs


def ensure_venv(name: str) -> Path:
    """The peer's own venv under ``~/.cache/margin-bench/venvs/`` with its pins, made once."""
    from mmm_peers import ensure_venv as make

    return make(name, VENVS[name])


def _loop_running() -> bool:
    """Whether a Python process runs ``bench/loop.py`` (argv read from /proc, so a shell
    that merely mentions the name does not count)."""
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"python" in argv[0] and any(a.endswith(b"bench/loop.py") for a in argv[1:3]):
            return True
    return False


def wait_for_quiet(limit_s: float) -> str:
    """Wait while ``bench/loop.py`` runs (polling each minute, at most ``limit_s``)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit_s:
        if not _loop_running():
            return "no other benchmark running"
        print(f"bench/loop.py is running; waiting (load {loadavg():.1f})", flush=True)
        time.sleep(60)
    return f"bench/loop.py still running after {limit_s / 60:.0f} min of waiting"


def cpu_seconds(time_output: str) -> float | None:
    """User + system CPU seconds from ``/usr/bin/time -v``'s report (less sensitive to a
    shared machine's load than wall time)."""
    found = re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", time_output)
    return sum(float(v) for v in found) if found else None


def run_tool(tool: str, data: Path, timeout: float) -> dict[str, Any]:
    """Run one tool's runner on ``data`` under ``/usr/bin/time -v``; its result row."""
    venv, runner = TOOLS[tool]
    python = Path(sys.executable) if venv is None else ensure_venv(venv)
    out = DATA / "results" / f"{tool}-{data.stem}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    command = [
        "/usr/bin/time", "-v", str(python), str(ROOT / "bench" / "peers" / runner),
        "--data", str(data), "--out", str(out),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("PYTHONPATH", None)
    row: dict[str, Any] = {"tool": tool, "data": data.name, "load_start": loadavg()}
    print(f"[{data.name}] {tool}: running (load {row['load_start']:.2f})", flush=True)
    start = time.perf_counter()
    # Own session, so a timeout kills the runner itself and not only /usr/bin/time.
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        cwd=out.parent, start_new_session=True,
    )  # fmt: skip
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        row["status"] = f"stopped after {timeout:.0f} s"
    else:
        rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
        row["peak_gb"] = int(rss.group(1)) / 1024**2 if rss else None
        row["cpu_s"] = cpu_seconds(stderr)
        if proc.returncode != 0 or not out.exists():
            row["status"] = f"failed (exit {proc.returncode})"
            row["error"] = "\n".join(stderr.strip().splitlines()[-25:])
        else:
            row.update(json.loads(out.read_text()))
            row["status"] = "ok"
    out.with_suffix(".log").write_text(stdout + "\n---- stderr ----\n" + stderr)
    row["process_s"] = time.perf_counter() - start
    row["load_end"] = loadavg()
    print(json.dumps(row, default=str), flush=True)
    return row


# ---------------------------------------------------------------- report

STAGES = ("read_s", "summary_s", "bgnbd_s", "gamma_gamma_s")


def _s(value: Any) -> str:
    return "–" if value is None else f"{value:.1f} s"


def _g(value: Any) -> str:
    return "–" if value is None else f"{value:.4g}"


def times_table(rows: list[dict[str, Any]], facts: dict[str, dict[str, Any]]) -> str:
    """Stage times, whole process and peak memory per tool and data size."""
    lines = [
        "| tool | customers (transactions) | read | summaries | BG/NBD | Gamma-Gamma "
        "| pipeline | process | process CPU | peak memory | load start→end |",
        "|" + "---|" * 11,
    ]
    for r in rows:
        f = facts[r["data"]]
        size = f"{f['n_customers']:,} ({f['n_transactions'] / 1e6:.1f} M)"
        if r["status"] != "ok":
            lines.append(
                f"| {LABELS[r['tool']]} | {size} | {r['status']} |  |  |  |  |  |  |  "
                f"| {r['load_start']:.1f}→{r['load_end']:.1f} |"
            )
            continue
        stages = " | ".join(_s(r["stages"].get(k)) for k in STAGES)
        peak = "–" if r.get("peak_gb") is None else f"{r['peak_gb']:.2f} GB"
        lines.append(
            f"| {LABELS[r['tool']]} | {size} | {stages} | {_s(r['pipeline_s'])} "
            f"| {_s(r['process_s'])} | {_s(r.get('cpu_s'))} | {peak} "
            f"| {r['load_start']:.1f}→{r['load_end']:.1f} |"
        )
    return "\n".join(lines)


def params_table(rows: list[dict[str, Any]], facts: dict[str, dict[str, Any]]) -> str:
    """Fitted parameters per tool beside the truth; margin's with their 90% intervals."""
    names = [("bgnbd", k) for k in TRUTH["bgnbd"]] + [
        ("gamma_gamma", k) for k in TRUTH["gamma_gamma"]
    ]
    head = " | ".join(f"{k} ({'BG/NBD' if m == 'bgnbd' else 'GG'})" for m, k in names)
    lines = [
        f"| tool | customers | {head} | log-lik. BG/NBD | log-lik. GG |",
        "|" + "---|" * (len(names) + 4),
    ]
    lines.append("| truth | – | " + " | ".join(_g(TRUTH[m][k]) for m, k in names) + " | – | – |")
    for r in rows:
        if r["status"] != "ok":
            continue
        cells = []
        for m, k in names:
            p = r["params"][m][k]
            cell = _g(p["estimate"])
            if "p05" in p:
                cell += f" [{_g(p['p05'])}, {_g(p['p95'])}]"
            cells.append(cell)
        ll = r.get("loglik_on_margin_rows", {})
        lls = " | ".join(f"{ll[m]:,.2f}" if m in ll else "–" for m in TRUTH)
        lines.append(
            f"| {LABELS[r['tool']]} | {facts[r['data']]['n_customers']:,} | "
            + " | ".join(cells)
            + f" | {lls} |"
        )
    return "\n".join(lines)


def bgnbd_loglik(params: dict[str, float], rows: Path) -> float:
    """BG/NBD log-likelihood (FHL 2005 eq. 6) of ``params`` on margin's weighted rows."""
    from scipy.special import betaln, gammaln

    with np.load(rows) as z:
        x, t_x, age, w = (z[f"arr_{i}"] for i in range(4))
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x) - betaln(a, b)
    alive = -(r + x) * np.log(alpha + age)
    safe = np.maximum(x, 1.0)
    dropped = np.log(a) - np.log(b + safe - 1.0) - (r + x) * np.log(alpha + t_x)
    tail = np.where(x > 0, np.logaddexp(alive, dropped), alive)
    return float(np.sum(w * (head + tail)))


def gamma_gamma_loglik(params: dict[str, float], spend: Path) -> float:
    """Gamma-Gamma log-likelihood of the repeat customers' mean spend (margin's form)."""
    from scipy.special import gammaln

    with np.load(spend) as z:
        x, m = z["arr_0"], z["arr_1"]
    p, q, g = (params[k] for k in ("p", "q", "gamma"))
    px = p * x
    value = (
        gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(g)
        + (px - 1.0) * np.log(m) + px * np.log(x) - (px + q) * np.log(g + m * x)
    )  # fmt: skip
    return float(np.sum(value))


def score(rows: list[dict[str, Any]]) -> None:
    """Each tool's BG/NBD log-likelihood on margin's rows of the same data (where margin ran)."""
    margin_rows = {r["data"]: r for r in rows if r["tool"] == "margin" and r["status"] == "ok"}
    for r in rows:
        m = margin_rows.get(r["data"])
        if r["status"] != "ok" or m is None:
            continue
        stem = DATA / "results" / f"margin-{Path(r['data']).stem}"
        bg, gg = ({k: v["estimate"] for k, v in r["params"][m].items()} for m in TRUTH)
        r["loglik_on_margin_rows"] = {
            "bgnbd": bgnbd_loglik(bg, stem.with_suffix(".rows.npz")),
            "gamma_gamma": gamma_gamma_loglik(gg, stem.with_suffix(".spend.npz")),
        }


def section(
    rows: list[dict[str, Any]], facts: dict[str, dict[str, Any]], versions: str, load_note: str
) -> str:
    """The ``## Customer value at scale`` section of docs/benchmarks.md."""
    sizes = sorted(facts.values(), key=lambda f: -f["n_customers"])
    data = " and ".join(
        f"{f['n_customers']:,} simulated customers with {f['n_transactions']:,} transactions"
        for f in sizes
    )
    return (
        f"\n{SECTION}\n\n"
        f"Machine: {machine()}; {versions}. Before timing: {load_note}; the load average "
        "at each run's start and end is in the table (the machine is shared: timings are "
        "upper bounds). Command: `.venv/bin/python bench/ltv_scale.py --update-docs`.\n\n"
        f"Data: {data}, each in one Parquet file "
        "(`customer_id, ts, amount`; BG/NBD with CDNOW's "
        "dropout a 0.793, b 2.426 and faster buyers r 1.0, α 1.0 per week; Gamma-Gamma spend "
        "with CDNOW's p 6.25, q 3.74, γ 15.44; acquisitions over 12 weeks, observed 52 weeks). "
        "Each tool runs in its own process (its own "
        "virtual environment for the peers) under `/usr/bin/time -v`: Parquet → per-customer "
        "summaries (daily periods, recency and T in weeks) → BG/NBD on all customers → "
        "Gamma-Gamma on the repeat customers. margin: DuckDB reads the file, hashes the ids, "
        "summarises and collapses identical (frequency, recency, T) rows in SQL; both fits are "
        "maximum likelihood in JAX with Laplace 90% intervals, cold (compilation included). "
        "lifetimes: `summary_data_from_transaction_data` + `BetaGeoFitter` + `GammaGammaFitter` "
        "(no intervals; standard errors only). PyMC-Marketing: `clv.rfm_summary` + "
        '`BetaGeoModel` + `GammaGammaModel`, `fit(method="map")` with default priors (a point '
        "estimate; its intervals need MCMC, which the issue measured at 241 s and 9.7 GB per "
        "100 k customers).\n\n"
        "### Times and memory\n\n"
        "Stage times are each runner's own; *pipeline* is their sum as the runner timed it, "
        "*process* the whole command (interpreter start and imports included), *process CPU* "
        "its user + system CPU seconds (all threads; less sensitive to the machine's load "
        "than wall time).\n\n"
        + times_table(rows, facts)
        + "\n\n"
        + margin_notes(rows, facts)
        + "\n\n### Fitted parameters\n\n"
        "margin's with their 90% intervals. Both log-likelihoods of every tool's "
        "parameters are evaluated on the same (margin's) summary of the same file, so those "
        "columns compare the optimisers, not the summaries. The truth is the simulator's: "
        "daily periods merge purchases made on the same day (and sum their amounts), so the "
        "fitted α and the spend parameters sit off the truth for every tool alike.\n\n"
        + params_table(rows, facts)
        + "\n"
    )


def margin_notes(rows: list[dict[str, Any]], facts: dict[str, dict[str, Any]]) -> str:
    """margin's collapsed rows and its compiled (second) fit times, per data size."""
    notes = []
    for r in rows:
        if r["tool"] != "margin" or r["status"] != "ok":
            continue
        st = r["stages"]
        notes.append(
            f"{facts[r['data']]['n_customers']:,} customers: {r['n_rows']:,} weighted "
            f"(frequency, recency, T) rows for BG/NBD, {r['n_repeat']:,} repeat customers "
            f"for Gamma-Gamma; fitted again in the same process (compiled): BG/NBD "
            f"{_s(st.get('bgnbd_refit_s'))}, Gamma-Gamma {_s(st.get('gamma_gamma_refit_s'))}"
        )
    return "margin: " + "; ".join(notes) + "." if notes else ""


def write_section(text: str, doc: Path) -> None:
    """Replace (or append) the section in ``doc``."""
    current = doc.read_text(encoding="utf-8") if doc.exists() else "# Benchmarks\n"
    head, sep, rest = current.partition(f"\n{SECTION}\n")
    if sep:
        tail = rest.split("\n## ", 1)
        current = head + text + ("\n## " + tail[1] if len(tail) > 1 else "")
    else:
        current = current.rstrip("\n") + "\n" + text
    doc.write_text(current, encoding="utf-8")


def load_rows(saved: Path) -> tuple[list[dict[str, Any]], str]:
    """The rows of the last run (CPU seconds re-read from the runs' logs where missing)."""
    stored = json.loads(saved.read_text())
    rows: list[dict[str, Any]] = stored["rows"]
    for r in rows:
        log = DATA / "results" / f"{r['tool']}-{Path(r['data']).stem}.log"
        if r.get("cpu_s") is None and log.exists():
            r["cpu_s"] = cpu_seconds(log.read_text())
    score(rows)
    return rows, str(stored["load_note"])


def _version_line(tools: list[str]) -> str:
    parts = []
    for tool in tools:
        venv, _ = TOOLS[tool]
        python = Path(sys.executable) if venv is None else ensure_venv(venv)
        v = peer_versions(python, VERSIONS[tool])
        parts.append(
            f"{LABELS[tool]}: Python {v.pop('python')}, "
            + ", ".join(f"{k} {val}" for k, val in v.items())
        )
    return "; ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--tools", nargs="+", default=list(TOOLS), choices=list(TOOLS))
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per run")
    parser.add_argument("--wait", type=float, default=1800.0, help="at most, for bench/loop.py")
    parser.add_argument("--doc", type=Path, default=None)
    parser.add_argument("--update-docs", action="store_true")
    parser.add_argument(
        "--from-results", action="store_true", help="rewrite the section from the last run's rows"
    )
    args = parser.parse_args()
    base_python()
    files = {
        f"transactions-{n}.parquet": (n, seed)
        for n, seed in ((args.small, 1), (args.customers, 0))
        if n > 0
    }
    facts = {name: make_transactions(DATA / name, n, s) for name, (n, s) in files.items()}
    versions = _version_line(args.tools)  # installs the venvs before anything is timed
    saved = DATA / "results" / "rows.json"
    if args.from_results:
        rows, load_note = load_rows(saved)
    else:
        load_note = wait_for_quiet(args.wait)
        rows = [run_tool(t, DATA / name, args.timeout) for name in files for t in args.tools]
        score(rows)
        saved.write_text(json.dumps({"rows": rows, "load_note": load_note}, indent=2) + "\n")
    text = section(rows, facts, versions, load_note)
    print(text)
    doc = args.doc or (DOCS if args.update_docs else DATA / "section.md")
    write_section(text, doc)
    print(f"wrote the section to {doc}")


if __name__ == "__main__":
    main()
