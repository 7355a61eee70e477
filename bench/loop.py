"""The learning loop against simulated worlds: how fast each policy learns, scored by the truth.

One command (the figures in ``docs/benchmarks.md``)::

    .venv/bin/python bench/loop.py --worlds 6:1 6:2:effects 12:3 --cycles 8 --jobs 2 \\
        --out loop-bench.json

Each world is margin's stepping simulator behind the world interface (``margin world
--geos G --seed S [--drift D]``; ``docs/worlds.md``): three years of history, 5 channels,
then ``--cycles`` cycles of 13 weeks. Every policy (``--policies``; default all of
:data:`margin.loop.POLICIES`) runs on its own copy of the same world and seed, in its own
workspace, with ``LoopSettings(policy=…, score=True)``: each cycle the world's ``score``
gives the TRUE expected value (currency, the cycle's weeks plus carry-over) of the executed
plan, of the status quo and of the oracle's plan, from the world's current state. margin
never uses these to decide; they are only read here.

Per policy and world: the share of the oracle's gain per cycle, ``(value − status quo) /
(oracle − status quo)`` of the policy's allocation (its plan before the tests are folded
in: a heavy-up's extra spend would otherwise count as the plan's gain); its mean over
cycles 5–8 (the issue's bar: ≥ 80% for ``margin`` in every world); the cumulative true gain
of the executed plans, tests included, less the tests' extra spend (bar: positive); the
worst cycle's true loss of the executed plan against that cycle's test spend (bar: the
loss never exceeds the test spend);
the test spend; and the calibration of the stated P(beats status quo): mean stated
probability against the share of cycles whose true gain was positive, with the Brier score.
Prints Markdown tables and writes JSON (``--out``); ``--keep DIR`` keeps the workspaces.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

import margin
from margin.loop import POLICIES, LoopSettings, list_cycles, run_loop

LATE = (5, 8)
"""Cycles (1-based, inclusive) whose mean share of the oracle's gain the bar reads."""
BAR_SHARE = 0.8


def world_command(spec: str) -> str:
    """``G:S[:drift,...]`` → the stepping simulator's command line."""
    parts = spec.split(":")
    geos, seed = int(parts[0]), int(parts[1])
    margin_cli = Path(sys.executable).with_name("margin")
    command = [str(margin_cli), "world", "--geos", str(geos), "--seed", str(seed)]
    for drift in parts[2].split(",") if len(parts) > 2 and parts[2] else []:
        command += ["--drift", drift]
    return shlex.join(command)


def parse_settings(pairs: list[str]) -> dict[str, Any]:
    """``--set name=value`` → LoopSettings overrides (values read as JSON, else text)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        name, _, text = pair.partition("=")
        try:
            out[name] = json.loads(text)
        except json.JSONDecodeError:
            out[name] = text
    return out


def _workspace(folder: str, world: str, policy: str) -> Path:
    safe = world.replace(":", "_").replace(",", "+")
    return Path(folder) / f"{safe}-{policy}" / "ws.duckdb"


def run_one(
    world: str, policy: str, cycles: int, folder: str, overrides: dict[str, Any]
) -> dict[str, Any]:
    """One policy on one world, cycle by cycle: its cycles' records and wall time.

    Before each cycle of a policy other than ``oracle``, the oracle run's ``oracle.json``
    of that cycle (its channel totals, found by searching the world's score) is copied into
    the cycle's folder, where the loop takes it instead of searching again: the same plan
    is then scored in this policy's own world state (carry-over of its own past spend).
    """
    from margin.loop.ledger import default_state, loop_id, loops_folder

    workspace = _workspace(folder, world, policy)
    workspace.parent.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("XDG_CONFIG_HOME", str(Path(folder) / "config"))
    settings = LoopSettings(policy=policy, score=True, **overrides)
    oracle_ws = _workspace(folder, world, "oracle")
    oracle_dir = loops_folder(oracle_ws) / loop_id(oracle_ws, default_state(oracle_ws))
    mine = loops_folder(workspace) / loop_id(workspace, default_state(workspace))
    started = time.perf_counter()
    done = len(list_cycles(workspace)) if workspace.exists() else 0  # a re-run resumes
    for k in range(done + 1, cycles + 1):
        cached = oracle_dir / f"cycle-{k:03d}" / "oracle.json"
        if policy != "oracle" and cached.is_file():
            (mine / f"cycle-{k:03d}").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(cached, mine / f"cycle-{k:03d}" / "oracle.json")
        run_loop(workspace, world_command(world), 1, settings)
    return {
        "world": world,
        "policy": policy,
        "seconds": time.perf_counter() - started,
        "cycles": list_cycles(workspace)[:cycles],
    }


def _share(record: dict[str, Any]) -> float | None:
    true = record.get("true") or {}
    value = true.get("share_of_oracle")
    return None if value is None else float(value)


def metrics(result: dict[str, Any]) -> dict[str, Any]:
    """The bars' numbers for one (world, policy)."""
    cycles = result["cycles"]
    shares = [_share(c) for c in cycles]
    trues = [c.get("true") or {} for c in cycles]
    gains = [float(t.get("gain") or 0.0) for t in trues]  # the executed plan, tests included
    net = [float(t.get("net_gain", t.get("gain")) or 0.0) for t in trues]  # less test spend
    chosen = [float(t.get("allocation_gain", t.get("gain")) or 0.0) for t in trues]  # no tests
    tests = [abs(float(c.get("test_spend") or 0.0)) for c in cycles]
    late = [s for c, s in zip(cycles, shares, strict=True) if LATE[0] <= c["cycle"] <= LATE[1]]
    late = [s for s in late if s is not None]
    stated = [
        (float(c["p_beats_status_quo"]), g > 0)
        for c, g in zip(cycles, chosen, strict=True)
        if c.get("p_beats_status_quo") is not None
    ]
    fit_seconds = [float((c.get("timings") or {}).get("fit") or 0.0) for c in cycles]
    cycle_seconds = [
        sum(float(v) for v in (c.get("timings") or {}).values() if v is not None) for c in cycles
    ]
    return {
        "shares": shares,
        "late_share": float(np.mean(late)) if late else None,
        "cumulative_gain": float(np.sum(net)),
        "cumulative_gross_gain": float(np.sum(gains)),
        "gains": gains,
        "net_gains": net,
        "test_spend": tests,
        "worst_loss_over_test_spend": max(
            (max(-g, 0.0) - t for g, t in zip(gains, tests, strict=True)), default=0.0
        ),
        "stated_p": float(np.mean([p for p, _ in stated])) if stated else None,
        "beat_rate": float(np.mean([b for _, b in stated])) if stated else None,
        "brier": float(np.mean([(p - b) ** 2 for p, b in stated])) if stated else None,
        "cycle_seconds": cycle_seconds,
        "fit_seconds": fit_seconds,
    }


def _fmt(value: float | None, pct: bool = False) -> str:
    if value is None:
        return "–"
    return f"{100 * value:.0f}%" if pct else f"{value:,.0f}"


def table(results: list[dict[str, Any]]) -> str:
    """Markdown: one row per (world, policy)."""
    lines = [
        "| world | policy | share per cycle | mean share 5–8 | cumulative true gain net of tests | "
        "worst loss − test spend | stated P(beats) / beat rate (Brier) | s per cycle |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        m = r["metrics"]
        per = " ".join(_fmt(s, pct=True) for s in m["shares"])
        calib = (
            "–" if m["stated_p"] is None
            else f"{100 * m['stated_p']:.0f}% / {100 * m['beat_rate']:.0f}% ({m['brier']:.2f})"
        )  # fmt: skip
        lines.append(
            f"| {r['world']} | {r['policy']} | {per} | {_fmt(m['late_share'], pct=True)} | "
            f"{_fmt(m['cumulative_gain'])} | {_fmt(m['worst_loss_over_test_spend'])} | {calib} | "
            f"{np.mean(m['cycle_seconds']):.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worlds", nargs="+", default=["6:1", "6:2:effects", "12:3"],
                        help="G:S[:drift,...] per world (geos, seed, drift options)")  # fmt: skip
    parser.add_argument("--policies", nargs="+", default=list(POLICIES), choices=POLICIES)
    parser.add_argument("--cycles", type=int, default=8)
    parser.add_argument("--set", action="append", default=[], dest="settings",
                        help="a LoopSettings override, e.g. --set risk=mean_sd (repeatable)")  # fmt: skip
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--keep", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    folder = str(args.keep) if args.keep else tempfile.mkdtemp(prefix="margin-loop-bench-")
    overrides = parse_settings(args.settings)
    first = [(w, p) for w in args.worlds for p in args.policies if p == "oracle"]
    then = [(w, p) for w in args.worlds for p in args.policies if p != "oracle"]
    started = time.perf_counter()
    results = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for jobs in (first, then):  # the oracle's searches first: the others reuse them
            futures = [pool.submit(run_one, w, p, args.cycles, folder, overrides) for w, p in jobs]
            for future in futures:
                result = future.result()
                result["metrics"] = metrics(result)
                results.append(result)
                print(f"done {result['world']} {result['policy']} in {result['seconds']:.0f} s",
                      flush=True)  # fmt: skip
    print(table(results))
    body = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "python": platform.python_version(), "margin": margin.__version__},
        "command": " ".join(sys.argv),
        "settings": parse_settings(args.settings),
        "seconds": time.perf_counter() - started,
        "bar": {"late_cycles": LATE, "share": BAR_SHARE},
        "results": [{k: v for k, v in r.items() if k != "cycles"} | {"cycles": r["cycles"]}
                    for r in results],
    }  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps(body, indent=1, default=str) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
