"""margin's MMM side by side with PyMC-Marketing and Meridian on the same data and machine.

One command::

    .venv/bin/python bench/mmm_peers.py [--worlds national geo meridian]
        [--chains 4 --draws 500 --warmup 500] [--peers margin pymc pymc-numpyro meridian]
        [--seeds 0 1 2 3 4] [--update-docs]

1. Writes each world as a wide CSV (date, geo, kpi, spend per channel, controls,
   population) plus a descriptor/truth JSON into ``~/.cache/margin-bench/data/``:
   ``national`` (simulated, 156 weeks × 5 channels), ``geo`` (simulated, 40 geos × 156
   weeks × 5 channels) and ``meridian`` (``../shared/data/meridian/geo_all_channels.csv``,
   read in place, KPI = conversions × revenue_per_conversion; no truth).
2. Creates each peer's own virtual environment under ``~/.cache/margin-bench/venvs/``
   (outside the project) with the project's Python 3.12 and installs pinned versions from
   PyPI, once (a stamp file records what was installed).
3. Runs every fit in its own process under ``/usr/bin/time -v`` (peak memory), with a
   timeout, via the runners in ``bench/peers/`` (the peers' runners never import margin).
4. Prints a Markdown table per world; ``--update-docs`` rewrites the ``## MMM peers``
   section of ``docs/benchmarks.md`` (only that section).

``--seeds`` fits each simulated world once per seed (world and sampler seed; the
Meridian data has one): seed 0 is the world shown in full, the others are stored beside
it (``national-seed1`` …) and summarised per peer over all seeds, so the ROI errors and
ESS rates compared are not those of a single draw of the data.

Results (raw runner JSON, logs, tables) go to ``~/.cache/margin-bench/peers/``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
WORK = Path.home() / ".cache" / "margin-bench"
MERIDIAN_CSV = ROOT.parent / "shared" / "data" / "meridian" / "geo_all_channels.csv"
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "## MMM peers"

VENVS: dict[str, list[str]] = {
    "pymc": ["pymc-marketing==1.3.0", "numpyro==0.22.0"],
    "meridian": ["google-meridian==2.1.0"],
}
PEERS: dict[str, tuple[str | None, str, list[str]]] = {
    # name: (venv, runner, extra runner arguments); venv None = the project venv.
    "margin": (None, "margin_runner.py", []),
    "pymc": ("pymc", "pymc_runner.py", ["--sampler", "pymc"]),
    "pymc-numpyro": ("pymc", "pymc_runner.py", ["--sampler", "numpyro"]),
    "meridian": ("meridian", "meridian_runner.py", []),
}
JAX_DEVICES = "--xla_force_host_platform_device_count=4"


# ---------------------------------------------------------------- datasets


BOUND_NOTE = (
    ' What error the data leave to any estimator is in § MMM, "What ROI error any '
    'estimator can reach" (`bench/roi_bound.py`: the Cramér–Rao bound, every curve known).'
)


def _simulated(kind: str, n_geos: int, seed: int, folder: Path) -> Path:
    from margin.data.simulator import WorldParams, simulate_world

    n_users = max(200, 10 * n_geos)  # the simulator needs 10 users per geo (events unused)
    params = WorldParams(n_geos=n_geos, n_weeks=156, n_users=n_users)
    world = simulate_world(params, seed=seed)
    p, a = world.params, world.arrays
    dates = np.datetime64(p.start, "D") + 7 * np.arange(p.n_weeks)
    rows = []
    for g, geo in enumerate(p.geos):
        block = {"date": dates.astype(str), "geo": geo, "kpi": a.observed[g]}
        for c, name in enumerate(p.channel_names):
            block[f"spend_{name}"] = a.spend[g, :, c]
        block["price"], block["holiday"] = a.price[g], a.holiday[g]
        block["population"] = p.population[g]
        rows.append(pd.DataFrame(block))
    csv = folder / f"{kind}_seed{seed}.csv"
    pd.concat(rows).to_csv(csv, index=False)
    truth = {
        name: {"roi": t["roi"], "spend": t["spend"], "contribution": t["contribution"]}
        for name, t in world.truth["channels"].items()
    }
    return _descriptor(
        folder / f"{kind}_seed{seed}.json",
        world=kind,
        csv=csv,
        channels=list(p.channel_names),
        controls=["price", "holiday"],
        truth=truth,
        source=f"simulate_world(WorldParams(n_geos={n_geos}, n_weeks=156, n_users={n_users}), "
        f"seed={seed})",
        n_geos=p.n_geos,
    )


def _meridian(folder: Path) -> Path:
    raw = pd.read_csv(MERIDIAN_CSV)
    channels = [f"Channel{i}" for i in range(5)]
    frame = pd.DataFrame({"date": raw["time"], "geo": raw["geo"]})
    frame["kpi"] = raw["conversions"] * raw["revenue_per_conversion"]
    for name in channels:
        frame[f"spend_{name}"] = raw[f"{name}_spend"]
    controls = ["competitor_sales_control", "sentiment_score_control", "Promo"]
    for name in controls:
        frame[name] = raw[name]
    frame["population"] = raw["population"]
    csv = folder / "meridian_geo_all_channels.csv"
    frame.to_csv(csv, index=False)
    return _descriptor(
        folder / "meridian.json",
        world="meridian",
        csv=csv,
        channels=channels,
        controls=controls,
        truth=None,
        source=f"{MERIDIAN_CSV.name}: KPI = conversions × revenue_per_conversion; "
        "spend columns; organic/impressions unused",
        n_geos=int(frame["geo"].nunique()),
    )


def _descriptor(path: Path, *, channels: list[str], csv: Path, **fields: Any) -> Path:
    desc = {
        **fields,
        "csv": str(csv),
        "date": "date",
        "geo": "geo",
        "kpi": "kpi",
        "population": "population",
        "channels": channels,
        "spend_columns": [f"spend_{c}" for c in channels],
    }
    frame = pd.read_csv(csv)
    desc["n_weeks"] = int(frame["date"].nunique())
    path.write_text(json.dumps(desc, indent=2) + "\n")
    return path


def write_world(kind: str, seed: int, n_geos: int) -> Path:
    folder = WORK / "data"
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "national":
        return _simulated(kind, 1, seed, folder)
    if kind == "geo":
        return _simulated(kind, n_geos, seed, folder)
    if kind == "meridian":
        return _meridian(folder)
    raise SystemExit(f"unknown world {kind!r}: expected national, geo or meridian")


def world_key(world: str, seed: int) -> str:
    """Where a world's runs are stored: seed 0 under its name, others beside it."""
    return world if seed == 0 or world == "meridian" else f"{world}-seed{seed}"


# ---------------------------------------------------------------- virtual environments


def base_python() -> str:
    """The Python 3.12 the project venv was made from (peers get the same interpreter)."""
    exe = getattr(sys, "_base_executable", sys.executable)
    if sys.version_info[:2] != (3, 12):
        raise SystemExit(
            f"run with the project's Python 3.12 (.venv/bin/python); got {sys.version}"
        )
    return exe


def ensure_venv(name: str, packages: list[str] | None = None) -> Path:
    """The peer's own venv ``~/.cache/margin-bench/venvs/<name>`` with ``packages``
    (default: :data:`VENVS`'s pins for ``name``), made once; its Python."""
    packages = VENVS[name] if packages is None else packages
    venv = WORK / "venvs" / name
    python = venv / "bin" / "python"
    wanted = hashlib.sha256(json.dumps(packages).encode()).hexdigest()
    stamp = venv / ".margin-bench.sha256"
    if python.exists() and stamp.exists() and stamp.read_text().strip() == wanted:
        return python
    print(f"installing {' '.join(packages)} into {venv} (minutes, once)", flush=True)
    if not python.exists():
        subprocess.run([base_python(), "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip>=24"], check=True)
    subprocess.run([*pip, *packages], check=True)
    stamp.write_text(wanted + "\n")
    return python


def peer_versions(python: Path, packages: list[str]) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {'python': sys.version.split()[0]}\n"
        f"for p in {packages!r}:\n"
        "    try: out[p] = m.version(p)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))"
    )
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    versions: dict[str, str] = json.loads(done.stdout)
    return versions


# ---------------------------------------------------------------- fits


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def session_peak_mb(session: int) -> float | None:
    """Largest peak RSS (VmHWM) among the live processes of ``session``, in MB."""
    peak = None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[3]) != session:
                continue
            hwm = re.search(r"VmHWM:\s+(\d+)", (proc / "status").read_text())
        except (OSError, IndexError, ValueError):
            continue
        if hwm:
            peak = max(peak or 0.0, int(hwm.group(1)) / 1024)
    return peak


def run_fit(peer: str, desc_path: Path, args: argparse.Namespace) -> dict[str, Any]:
    venv, runner, extra = PEERS[peer]
    python = Path(sys.executable) if venv is None else ensure_venv(venv)
    desc = json.loads(desc_path.read_text())
    folder = WORK / "peers" / world_key(desc["world"], args.seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{peer}.json"
    out.unlink(missing_ok=True)
    command = [
        "/usr/bin/time", "-v", str(python), str(ROOT / "bench" / "peers" / runner),
        "--data", str(desc_path), "--out", str(out), "--chains", str(args.chains),
        "--draws", str(args.draws), "--warmup", str(args.warmup), "--seed", str(args.seed),
        *extra,
    ]  # fmt: skip
    env = {**os.environ, "XLA_FLAGS": JAX_DEVICES, "PYTHONUNBUFFERED": "1"}
    env.pop("PYTHONPATH", None)
    row: dict[str, Any] = {"peer": peer, "world": desc["world"], "load_start": loadavg()}
    print(f"[{desc['world']}] {peer}: fitting (load {row['load_start']:.2f})", flush=True)
    start = time.perf_counter()
    log = folder / f"{peer}.log"
    # Own session, so a timeout kills the fit itself and not only /usr/bin/time.
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=folder,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        hwm = session_peak_mb(proc.pid)
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        log.write_text(stdout + "\n---- stderr ----\n" + stderr)
        row.update({"status": f"timed out after {args.timeout:.0f} s", "peak_mb": None})
        row["peak_mb_at_kill"] = hwm  # VmHWM of the session's processes when killed
    else:
        log.write_text(stdout + "\n---- stderr ----\n" + stderr)
        rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
        row["peak_mb"] = int(rss.group(1)) / 1024 if rss else None
        if proc.returncode != 0 or not out.exists():
            row["status"] = f"failed (exit {proc.returncode})"
            row["error"] = "\n".join(stderr.strip().splitlines()[-25:])
        else:
            row.update(json.loads(out.read_text()))
            row["status"] = "ok"
    row["process_s"] = time.perf_counter() - start
    row["load_end"] = loadavg()
    _score(row, desc.get("truth"))
    print(json.dumps({k: v for k, v in row.items() if k != "roi"}, default=str), flush=True)
    return row


def _score(row: dict[str, Any], truth: dict[str, Any] | None) -> None:
    if row.get("min_ess_bulk") is not None and row.get("wall_s"):
        row["ess_per_s"] = row["min_ess_bulk"] / row["wall_s"]
    if truth is None or "roi" not in row:
        return
    errors, inside = [], 0
    for name, t in truth.items():
        roi = row["roi"][name]
        errors.append(abs(roi["mean"] - t["roi"]) / t["roi"])
        inside += int(roi["p05"] <= t["roi"] <= roi["p95"])
    row["roi_mape"] = float(np.mean(errors))
    row["roi_in_90"] = inside
    row["n_channels"] = len(truth)


# ---------------------------------------------------------------- report


def _fmt(value: Any, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def _peak(row: dict[str, Any]) -> str:
    if row.get("peak_mb") is None and row.get("peak_mb_at_kill") is not None:
        return f"≥ {row['peak_mb_at_kill']:,.0f} (at kill)"
    return _fmt(row.get("peak_mb"), ",.0f")


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| peer | sampler | wall s | min bulk ESS | ESS/s | max R-hat | divergences "
        "| ROI MAPE | true ROI in 90% | peak MB | load start→end |",
        "|" + "---|" * 11,
    ]
    for r in rows:
        sampler = r.get("sampler", r["status"]) if r["status"] == "ok" else r["status"]
        inside = f"{r['roi_in_90']}/{r['n_channels']}" if "roi_in_90" in r else "–"
        lines.append(
            f"| {r['peer']} | {sampler} | {_fmt(r.get('wall_s'), '.1f')} "
            f"| {_fmt(r.get('min_ess_bulk'), '.0f')} | {_fmt(r.get('ess_per_s'), '.2f')} "
            f"| {_fmt(r.get('max_rhat'), '.3f')} | {_fmt(r.get('divergences'), 'd')} "
            f"| {_fmt(r.get('roi_mape'), '.0%')} | {inside} | {_peak(r)} "
            f"| {r['load_start']:.1f}→{r['load_end']:.1f} |"
        )
    return "\n".join(lines)


def roi_table(rows: list[dict[str, Any]], truth: dict[str, Any]) -> str:
    names = list(truth)
    lines = ["| peer | " + " | ".join(names) + " |", "|" + "---|" * (len(names) + 1)]
    lines.append("| truth | " + " | ".join(f"{truth[n]['roi']:.2f}" for n in names) + " |")
    for r in rows:
        if "roi" not in r:
            continue
        cells = [
            f"{r['roi'][n]['mean']:.2f} ({r['roi'][n]['p05']:.2f}–{r['roi'][n]['p95']:.2f})"
            for n in names
        ]
        lines.append(f"| {r['peer']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine() -> str:
    info = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    model = re.search(r"Model name:\s+(.+)", info)
    mem = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
    ram = int(mem.group(1)) / 1024**2 if mem else float("nan")
    return (
        f"{model.group(1).strip() if model else platform.processor()}, "
        f"{os.cpu_count()} cores, {ram:.0f} GB RAM, {platform.system()} {platform.release()}"
    )


def versions(peers: list[str]) -> dict[str, dict[str, str]]:
    out = {"margin": peer_versions(Path(sys.executable), ["margin", "jax", "jaxlib", "numpyro"])}
    if any(p.startswith("pymc") for p in peers):
        out["pymc"] = peer_versions(
            ensure_venv("pymc"),
            ["pymc-marketing", "pymc", "pytensor", "numpyro", "jax", "nutpie", "arviz"],
        )
    if "meridian" in peers:
        out["meridian"] = peer_versions(
            ensure_venv("meridian"),
            [
                "google-meridian",
                "tensorflow",
                "tensorflow-probability",
                "tfp-nightly",
                "jax",
                "arviz",
            ],
        )
    return out


def _version_line(v: dict[str, dict[str, str]]) -> str:
    parts = [f"Python {v['margin']['python']}"]
    m = v["margin"]
    parts.append(
        f"margin {m.get('margin', '?')} (JAX {m.get('jax', '?')}, NumPyro {m.get('numpyro', '?')})"
    )
    if "pymc" in v:
        p = v["pymc"]
        nut = f", nutpie {p['nutpie']}" if "nutpie" in p else ", nutpie not installed"
        parts.append(
            f"PyMC-Marketing {p.get('pymc-marketing', '?')} (PyMC {p.get('pymc', '?')}, "
            f"PyTensor {p.get('pytensor', '?')}, NumPyro {p.get('numpyro', '?')}, "
            f"JAX {p.get('jax', '?')}{nut})"
        )
    if "meridian" in v:
        r = v["meridian"]
        parts.append(
            f"Meridian {r.get('google-meridian', '?')} (TensorFlow {r.get('tensorflow', '?')}, "
            f"TFP {r.get('tensorflow-probability', r.get('tfp-nightly', '?'))}, "
            f"JAX {r.get('jax', '?')})"
        )
    return "; ".join(parts)


def _seed_goals(
    world: str,
    summary: dict[str, dict[str, Any]],
    agreement: dict[str, tuple[float, int]] | None = None,
) -> list[str]:
    """The ESS/s and ROI-error bars over several seeds of ``world``."""
    mine = summary.get("margin")
    peers = {p: m for p, m in summary.items() if p != "margin"}
    rated = {p: m for p, m in peers.items() if m["ess_per_s"] is not None}
    if mine is None or mine["ess_per_s"] is None or not rated:
        return []
    n = mine["fits"]
    fastest = max(rated, key=lambda p: rated[p]["ess_per_s"])
    ratio = mine["ess_per_s"] / rated[fastest]["ess_per_s"]
    verdict = "met" if ratio >= 5 else "NOT met"
    if 5 / 1.2 <= ratio < 5 * 1.2:  # this VM's wall times vary by ±20% from run to run
        verdict += ", within run-to-run noise of the bar"
    unconverged = rated[fastest]["fits"] - rated[fastest]["clean"]
    out = [
        f"- **≥ 5× the fastest peer's ESS/s** ({world}, mean over {n} worlds): "
        f"{verdict}. margin {mine['ess_per_s']:.1f} against "
        f"{fastest} {rated[fastest]['ess_per_s']:.1f}"
        + (f" ({unconverged} of its {n} fits unconverged, in the mean)" if unconverged else "")
        + f" = {ratio:.2f}×"
        + (
            f" (margin's whole fit, its summaries and diagnostics included: mean "
            f"{mine['fit_total_s']:.1f} s, {mine['ess_per_total_s']:.1f} ESS/s = "
            f"{mine['ess_per_total_s'] / rated[fastest]['ess_per_s']:.2f}×)."
            if mine.get("fit_total_s")
            else "."
        )
    ]
    errs = {p: m["roi_mape"] for p, m in peers.items() if m["roi_mape"] is not None}
    if errs and mine["roi_mape"] is not None:
        best = min(errs, key=lambda p: errs[p])
        verdicts = ", ".join(
            f"{p} {e:.0%} ({'met' if mine['roi_mape'] <= e / 2 else 'NOT met'})"
            for p, e in sorted(errs.items(), key=lambda kv: kv[1])
        )
        out.append(
            f"- **ROI error ≤ half the peers'** ({world}, mean over {n} worlds): margin "
            f"{mine['roi_mape']:.0%} against {verdicts}; against the best peer ({best}) "
            f"{'met' if mine['roi_mape'] <= errs[best] / 2 else 'NOT met'}. True ROI inside "
            f"the 90% interval: margin {mine['inside']}/{mine['channels']}, "
            + ", ".join(f"{p} {m['inside']}/{m['channels']}" for p, m in peers.items())
            + "."
            + (
                " The errors are largely shared: margin's signed per-channel ROI errors "
                "correlate with "
                + ", ".join(f"{p}'s at r = {r:.2f} (n = {n})" for p, (r, n) in agreement.items())
                + ": most of it is common to every tool (these data do not separate "
                "those channels' effects), not one tool's."
                if agreement
                else ""
            )
            + BOUND_NOTE
        )
    return out


def goals(
    results: dict[str, list[dict[str, Any]]],
    summaries: dict[str, dict[str, dict[str, Any]]] | None = None,
    agreements: dict[str, dict[str, tuple[float, int]]] | None = None,
) -> str:
    """The issue's bars, each said plainly as met, not met or not measured."""
    out = []
    national = results.get("national", [])
    margin = next((r for r in national if r["peer"] == "margin" and r["status"] == "ok"), None)
    peers = [r for r in national if r["peer"] != "margin" and r.get("ess_per_s") is not None]
    if margin and peers:
        fastest = max(peers, key=lambda r: r["ess_per_s"])
        ratio = margin["ess_per_s"] / fastest["ess_per_s"]
        out.append(
            f"- **≥ 5× the fastest peer's ESS/s** (national): {'met' if ratio >= 5 else 'NOT met'}"
            f". margin {margin['ess_per_s']:.2f} bulk ESS/s against the fastest peer "
            f"({fastest['peer']}) {fastest['ess_per_s']:.2f} = {ratio:.2f}× (wall "
            f"{margin['wall_s']:.0f} s vs {fastest['wall_s']:.0f} s)."
        )
        errs = {r["peer"]: r["roi_mape"] for r in peers if "roi_mape" in r}
        if errs and "roi_mape" in margin:
            mine = margin["roi_mape"]
            best = min(errs, key=lambda k: errs[k])
            vs_fastest = errs.get(fastest["peer"], float("nan"))
            out.append(
                f"- **ROI error ≤ half the peers'** (national, one simulated world): against "
                f"the fastest peer {'met' if mine <= vs_fastest / 2 else 'NOT met'} "
                f"(margin {mine:.0%} vs {vs_fastest:.0%}); against the best peer "
                f"{'met' if mine <= errs[best] / 2 else 'NOT met'} ({best} {errs[best]:.0%}). "
                "One world and one seed: the error of a single fit is noisy (see the "
                "multi-seed recovery table in `## MMM`)."
            )
    else:
        out.append("- **≥ 5× the fastest peer's ESS/s**: not measured (a national fit missing).")
    for world, summary in (summaries or {}).items():
        out += _seed_goals(world, summary, (agreements or {}).get(world))
    if margin:
        seconds = margin.get("fit_total_s", margin["wall_s"])  # the whole fit, summaries too
        met = seconds <= 15 and margin["max_rhat"] <= 1.01 and margin["min_ess_bulk"] >= 400
        out.append(
            f"- **National ≤ 15 s with R-hat ≤ 1.01 and ESS ≥ 400**: {'met' if met else 'NOT met'} "
            f"({seconds:.1f} s for the whole fit, R-hat {margin['max_rhat']:.3f}, ESS "
            f"{margin['min_ess_bulk']:.0f}, {margin['divergences']} divergences; load "
            f"{margin['load_start']:.1f}→{margin['load_end']:.1f} on 2 cores)."
        )
    geo = next((r for r in results.get("geo", []) if r["peer"] == "margin"), None)
    if geo and geo["status"] == "ok":
        seconds = geo.get("fit_total_s", geo["wall_s"])
        met = seconds < 300 and geo["max_rhat"] <= 1.01 and (geo["peak_mb"] or 1e9) < 1536
        out.append(
            f"- **40-geo converged in < 5 min and < 1.5 GB**: {'met' if met else 'NOT met'} "
            f"({seconds:.0f} s for the whole fit, R-hat {geo['max_rhat']:.3f}, peak "
            f"{_fmt(geo['peak_mb'], ',.0f')} MB)."
        )
    elif geo:
        seen = geo.get("peak_mb_at_kill")
        memory = f"≥ {seen:,.0f} MB when killed" if seen else "not recorded"
        out.append(
            f"- **40-geo < 5 min and < 1.5 GB**: NOT met (margin {geo['status']}, so no "
            f"converged fit within 5 minutes on this loaded machine; peak memory {memory})."
        )
    else:
        out.append("- **40-geo < 5 min and < 1.5 GB**: not measured in this run.")
    return "\n".join(out)


def _quoted(command: str) -> str:
    """Each command of ``command`` (several are joined by " and ") in its own code span."""
    if "`" in command:
        return command
    return " and ".join(f"`{part}`" for part in command.split(" and "))


WORLD_ORDER = ("national", "geo", "meridian")


def convergence_notes(results: dict[str, list[dict[str, Any]]]) -> str:
    """Per world, which fits miss R-hat ≤ 1.01, bulk ESS ≥ 400 or have divergences."""
    out = []
    for world, rows in results.items():
        for r in rows:
            if r["status"] != "ok":
                out.append(f"- {world}, {r['peer']}: {r['status']}, no figures.")
                continue
            misses = []
            if r["max_rhat"] > 1.01:
                misses.append(f"R-hat {r['max_rhat']:.3f} > 1.01")
            if r["min_ess_bulk"] < 400:
                misses.append(f"bulk ESS {r['min_ess_bulk']:.0f} < 400")
            if r.get("divergences"):
                misses.append(f"{r['divergences']} divergent transitions")
            verdict = "; ".join(misses) if misses else "clean (R-hat ≤ 1.01, ESS ≥ 400, 0 div.)"
            out.append(f"- {world}, {r['peer']}: {verdict}.")
    return "\n".join(out)


def seed_runs(world: str, base: dict[str, Any]) -> list[dict[str, Any]]:
    """``base`` (seed 0) and the stored runs of ``world`` with other seeds and the same
    chains, draws and warm-up, by seed."""
    out = [base]
    for stored in sorted((WORK / "peers").glob(f"{world}-seed*/run.json")):
        run = json.loads(stored.read_text())
        if all(run["args"].get(k) == base["args"].get(k) for k in ("chains", "draws", "warmup")):
            out.append(run)
    return sorted(out, key=lambda run: int(run["args"]["seed"]))


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def seed_summary(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per peer, over the seeds' runs: fits, mean wall, mean ESS/s, ROI errors, coverage."""
    out: dict[str, dict[str, Any]] = {}
    for peer in PEERS:
        rows = [r for run in runs for r in run["rows"] if r["peer"] == peer]
        if not rows:
            continue
        ok = [r for r in rows if r["status"] == "ok"]
        clean = [r for r in ok if r["max_rhat"] <= 1.01 and r["min_ess_bulk"] >= 400]
        mape = [r["roi_mape"] for r in ok if "roi_mape" in r]
        out[peer] = {
            "fits": len(rows), "ok": len(ok), "clean": len(clean),
            "wall_s": _mean([r["wall_s"] for r in ok]),
            "fit_total_s": _mean([r["fit_total_s"] for r in ok if "fit_total_s" in r]),
            "ess_per_total_s": _mean(
                [r["min_ess_bulk"] / r["fit_total_s"] for r in ok if r.get("fit_total_s")]
            ),
            "ess_per_s": _mean([r["ess_per_s"] for r in ok if r.get("ess_per_s") is not None]),
            "max_rhat": max((r["max_rhat"] for r in ok), default=None),
            "roi_mape": _mean(mape), "mape_min": min(mape, default=None),
            "mape_max": max(mape, default=None),
            "inside": sum(r.get("roi_in_90", 0) for r in ok),
            "channels": sum(r.get("n_channels", 0) for r in ok),
        }  # fmt: skip
    return out


def error_agreement(runs: list[dict[str, Any]]) -> dict[str, tuple[float, int]]:
    """Per peer: the correlation of its signed ROI errors ``(estimate − truth) / truth``
    with margin's, over every channel of every world both fitted, and how many."""
    signed: dict[str, dict[tuple[int, str], float]] = {}
    for i, run in enumerate(runs):
        truth = run["desc"].get("truth") or {}
        for r in run["rows"]:
            if r["status"] == "ok" and "roi" in r:
                for name, t in truth.items():
                    signed.setdefault(r["peer"], {})[i, name] = (
                        r["roi"][name]["mean"] - t["roi"]
                    ) / t["roi"]
    mine = signed.pop("margin", {})
    out = {}
    for peer, errs in signed.items():
        keys = sorted(set(errs) & set(mine))
        if len(keys) >= 3:
            r = np.corrcoef([mine[k] for k in keys], [errs[k] for k in keys])[0, 1]
            out[peer] = (float(r), len(keys))
    return out


def seed_table(summary: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| peer | fits finished | converged (R-hat ≤ 1.01, ESS ≥ 400) | mean wall s "
        "| mean ESS/s | worst R-hat | ROI MAPE, mean (range) | true ROI in 90% |",
        "|" + "---|" * 8,
    ]
    for peer, m in summary.items():
        spread = (
            f"{m['roi_mape']:.0%} ({m['mape_min']:.0%}–{m['mape_max']:.0%})"
            if m["roi_mape"] is not None
            else "–"
        )
        inside = f"{m['inside']}/{m['channels']}" if m["channels"] else "–"
        lines.append(
            f"| {peer} | {m['ok']}/{m['fits']} | {m['clean']}/{m['fits']} "
            f"| {_fmt(m['wall_s'], '.1f')} | {_fmt(m['ess_per_s'], '.1f')} "
            f"| {_fmt(m['max_rhat'], '.3f')} | {spread} | {inside} |"
        )
    return "\n".join(lines)


def section(
    runs: dict[str, dict[str, Any]],
    v: dict[str, dict[str, str]],
    seeded: dict[str, list[dict[str, Any]]] | None = None,
) -> str:
    """The ``## MMM peers`` section from the latest stored run of each world."""
    rows_all = [r for run in runs.values() for r in run["rows"]]
    loads = [x for r in rows_all for x in (r["load_start"], r["load_end"])]
    loaded = max(loads) > 1.5 if loads else False
    parts = [
        SECTION,
        "",
        f"Machine: {machine()}"
        + (
            f" — **shared with other engineers' jobs while measured (load average "
            f"{min(loads):.1f}–{max(loads):.1f} at the start/end of the fits, on 2 cores)**, "
            "so every wall time is an upper bound and the ratios between peers are noisy."
            if loaded
            else "."
        ),
        "",
        f"Versions: {_version_line(v)}.",
        "",
        "Every fit runs in its own process under `/usr/bin/time -v` (peak memory = max RSS) "
        "with a timeout; wall time is what each peer's fit call covers: the model's set-up "
        "and sampling, compilation and the posterior's deterministic sites included (process "
        "start and data loading excluded). margin's `fit` then computes its summaries and "
        "diagnostics from the draws (ROI, marginal ROI, contributions, R-hat and ESS, "
        "posterior predictive checks), which the peers' timers leave out: that time is "
        "measured apart (`fit_total_s` in the raw JSON, and below). JAX-based samplers see 4 host devices "
        f"(`XLA_FLAGS={JAX_DEVICES}`) so chains can run in parallel; PyMC's own sampler runs "
        "with `cores=2` and `nuts_sampler` is always passed explicitly (nutpie is not "
        "installed in the PyMC venv). Min bulk ESS and max R-hat (rank-normalised split, "
        "one implementation for all: `bench/peers/diag.py`) are over each model's media "
        "parameters (margin: roi, decay, half_saturation, slope; PyMC-Marketing: "
        "adstock_alpha, saturation_lam, saturation_beta; Meridian: roi_m, alpha_m, ec_m, "
        "slope_m). ROI = incremental KPI over the window / spend, per channel, in each "
        "tool's own way (margin: its summary; PyMC-Marketing: channel contributions in "
        "original scale over spend; Meridian: `Analyzer.roi()`); ROI MAPE = mean over "
        "channels of |posterior-mean ROI − true ROI| / true ROI. Each peer is installed by "
        "the script in its own venv under `~/.cache/margin-bench/venvs/`; runners in "
        "`bench/peers/`; raw JSON and logs in `~/.cache/margin-bench/peers/`.",
        "",
        "Models: margin defaults (geometric adstock, max lag 8, Hill saturation, log-normal "
        "ROI priors, 2 yearly Fourier terms, linear trend, controls). PyMC-Marketing "
        "`MMM`: `GeometricAdstock(l_max=8)`, `LogisticSaturation()` (its default "
        "saturation), `yearly_seasonality=2`, the controls plus a linear trend column; "
        '`dims=("geo",)` for geo data. Meridian: `ModelSpec(max_lag=7)` (Meridian counts '
        "lags 0..max_lag: 8 weights, as margin's 8), geometric adstock, Hill, its default "
        "ROI prior, spend as the media input; national data keeps its national default "
        "`knots=1` with trend and 2 Fourier pairs added as controls, geo data its default "
        "knots (one per week; controls that do not vary across geos, e.g. the simulator's "
        "national holiday flag, are dropped as Meridian requires); `n_adapt` = warm-up, "
        "`n_burnin=0`.",
    ]
    for world in [w for w in WORLD_ORDER if w in runs]:
        run = runs[world]
        d, rows, a = run["desc"], run["rows"], run["args"]
        parts += [
            "",
            f"### {world}: {d['n_geos']} geo(s) × {d['n_weeks']} weeks × "
            f"{len(d['channels'])} channels",
            "",
            f"Data: {d['source']}. {a['chains']} chains × {a['draws']} draws after "
            f"{a['warmup']} warm-up, seed {a['seed']}, timeout {a['timeout']:.0f} s per fit. "
            f"Measured {run['measured']} UTC with {_quoted(run['command'])}.",
            "",
            table(rows),
        ]
        if d.get("truth") and any("roi" in r for r in rows):
            parts += ["", "Per-channel ROI, posterior mean (90% interval):", ""]
            parts.append(roi_table(rows, d["truth"]))
        for r in rows:
            if r["status"] != "ok":
                parts += ["", f"{r['peer']}: {r['status']}."]
    missing = [w for w in WORLD_ORDER if w not in runs]
    if missing:
        parts += ["", f"Not run yet: {', '.join(missing)} (`--worlds {' '.join(missing)}`)."]
    summaries: dict[str, dict[str, dict[str, Any]]] = {}
    agreements: dict[str, dict[str, tuple[float, int]]] = {}
    for world, seed_list in (seeded or {}).items():
        if len(seed_list) < 2:
            continue
        summaries[world] = summary = seed_summary(seed_list)
        agreements[world] = error_agreement(seed_list)
        seeds = [int(run["args"]["seed"]) for run in seed_list]
        stamps = sorted({r["measured"] for run in seed_list for r in run["rows"]})
        commands = list(dict.fromkeys(c for run in seed_list for c in run.get("commands", [])))
        a = seed_list[0]["args"]
        parts += [
            "",
            f"### {world}: {len(seed_list)} simulated worlds (seeds {', '.join(map(str, seeds))})",
            "",
            f"The same world generator with {len(seed_list)} seeds (world and sampler seed), "
            f"{a['chains']} chains × {a['draws']} draws after {a['warmup']} warm-up each; "
            f"seed 0 is the world above. Measured {stamps[0]} to {stamps[-1]} UTC with "
            f"{' and '.join(_quoted(c) for c in commands)}. "
            "Means are over the fits that finished.",
            "",
            seed_table(summary),
        ]
    results = {w: run["rows"] for w, run in runs.items()}
    parts += ["", "### What this shows", "", goals(results, summaries, agreements), "",
              "Convergence per fit:", ""]  # fmt: skip
    parts.append(convergence_notes(results))
    return "\n".join(parts) + "\n"


_SETTINGS = ("chains", "draws", "warmup", "seed", "geos")


def kept_rows(stored: Path, desc: dict[str, Any], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Rows of peers not re-run now from the stored run of the same world and settings
    (so ``--peers margin`` re-measures margin and keeps the peers' figures), each with the
    commands that measured it."""
    if not stored.exists():
        return []
    previous = json.loads(stored.read_text())
    same = previous.get("desc") == desc and all(
        previous["args"].get(k) == getattr(args, k) for k in _SETTINGS
    )
    if not same:
        return []
    rows = [r for r in previous["rows"] if r["peer"] not in args.peers]
    for r in rows:  # rows stored before rows kept their own command: the run's commands
        r.setdefault("measured", previous["measured"])
        r.setdefault("commands", previous.get("commands", [previous["command"]]))
    return rows


def _measured(rows: list[dict[str, Any]]) -> str:
    stamps = sorted({r["measured"] for r in rows})
    if len(stamps) == 1:
        return stamps[0]
    return "; ".join(f"{r['peer']} {r['measured']}" for r in rows)


def update_docs(text: str) -> None:
    """Replace (or append) the ``## MMM peers`` section; the rest of the file is untouched."""
    doc = DOCS.read_text()  # re-read right before editing: others edit other sections
    lines = doc.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == SECTION), None)
    if start is None:
        DOCS.write_text(doc.rstrip("\n") + "\n\n" + text)
        return
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    tail = "".join(lines[end:])
    DOCS.write_text("".join(lines[:start]) + text + ("\n" + tail if tail else ""))


def fit_world(
    world: str, args: argparse.Namespace, command: str, v: dict[str, dict[str, str]]
) -> list[dict[str, Any]]:
    """Fit every peer of ``args.peers`` on ``world`` (seed ``args.seed``); the stored run
    (``peers/<world key>/run.json``) is rewritten after every fit."""
    path = write_world(world, args.seed, args.geos)
    desc = json.loads(path.read_text())
    stored = WORK / "peers" / world_key(world, args.seed) / "run.json"
    stored.parent.mkdir(parents=True, exist_ok=True)
    rows = kept_rows(stored, desc, args)
    for peer in args.peers:  # stored after every fit: an interrupted run keeps its rows
        row = run_fit(peer, path, args)
        row["measured"] = f"{datetime.now(UTC):%Y-%m-%d %H:%M}"
        row["commands"] = [command]
        rows = sorted([*rows, row], key=lambda r: list(PEERS).index(r["peer"]))
        commands = [c for r in rows for c in r["commands"]]  # those of the rows shown
        run = {
            "desc": desc,
            "rows": rows,
            "args": vars(args),
            "command": " and ".join(dict.fromkeys(commands)),
            "commands": list(dict.fromkeys(commands)),
            "versions": v,
            "measured": _measured(rows),
        }
        stored.write_text(json.dumps(run, indent=2, default=str) + "\n")
    if desc.get("truth"):
        print(roi_table(rows, desc["truth"]) + "\n", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worlds", nargs="+", default=["national"])
    parser.add_argument("--peers", nargs="+", default=list(PEERS))
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=None,
        help="fit the simulated worlds once per seed (seed 0 shown in full, all summarised)",
    )  # fmt: skip
    parser.add_argument("--geos", type=int, default=40, help="geos of the simulated geo world")
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds per fit")
    parser.add_argument("--update-docs", action="store_true")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="fit nothing: rebuild the section from the stored runs (~/.cache/margin-bench/peers)",
    )
    args = parser.parse_args()
    command = ".venv/bin/python bench/mmm_peers.py " + " ".join(sys.argv[1:])
    unknown = sorted(set(args.peers) - set(PEERS))
    if unknown:
        raise SystemExit(f"unknown peer(s) {unknown}: expected some of {list(PEERS)}")
    for venv in dict.fromkeys(PEERS[p][0] for p in args.peers):
        if venv is not None:
            ensure_venv(venv)
    v = versions(args.peers)
    seeds = args.seeds or [args.seed]
    for world in [] if args.report_only else args.worlds:
        for seed in seeds if world != "meridian" else seeds[:1]:
            fit_args = argparse.Namespace(**{**vars(args), "seed": seed})
            rows = fit_world(world, fit_args, command, v)
            print(f"\n### {world_key(world, seed)}\n\n{table(rows)}\n", flush=True)
    # The section shows the latest stored run of every world (a later geo-only run keeps
    # the national table).
    runs = {}
    for world in WORLD_ORDER:
        stored = WORK / "peers" / world / "run.json"
        if stored.exists():
            runs[world] = json.loads(stored.read_text())
    seeded = {
        world: seed_runs(world, runs[world]) for world in ("national", "geo") if world in runs
    }
    shown = {r["peer"] for run in runs.values() for r in run["rows"]}
    if not shown <= set(args.peers):  # versions of every peer in the section, not just this run's
        v = versions(sorted(shown | set(args.peers)))
    text = section(runs, v, seeded)
    (WORK / "peers" / "section.md").write_text(text)
    print(text)
    if args.update_docs:
        update_docs(text)
        print(f"updated {DOCS.relative_to(ROOT)} ({SECTION})")


if __name__ == "__main__":
    main()
