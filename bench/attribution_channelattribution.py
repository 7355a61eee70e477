"""Benchmark: margin's exact Markov removal effects beside ChannelAttribution's markov_model.

Usage: .venv/bin/python bench/attribution_channelattribution.py [--paths FILE] [--venv DIR]

Installs ChannelAttribution (GPL; used here only as an outside reference, never shipped)
into its own virtual environment (default /tmp/margin-channelattribution; it needs a C++
compiler and imports matplotlib without declaring it), runs its ``markov_model`` (order 1,
with nulls and values) and ``heuristic_models`` on the paths file (default
../shared/data/channelattribution/Data.csv, ``;``-separated), runs margin on the same
file, and prints removal effects, credits, their differences and the wall times.
ChannelAttribution estimates removal effects by simulating paths; margin solves them
exactly, so they differ by ChannelAttribution's simulation noise.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "channelattribution" / "Data.csv"
PACKAGES = ("ChannelAttribution==2.2.5", "matplotlib")
_CHILD = r"""
import json, sys, time
import pandas as pd
from ChannelAttribution import heuristic_models, markov_model
path, out = sys.argv[1], sys.argv[2]
sep = ";" if open(path, encoding="utf-8").readline().count(";") else ","
t0 = time.perf_counter()
df = pd.read_csv(path, sep=sep)
read = time.perf_counter() - t0
t0 = time.perf_counter()
res = markov_model(df, "path", "total_conversions", var_value="total_conversion_value",
                   var_null="total_null", order=1, out_more=True, verbose=0)
markov = time.perf_counter() - t0
t0 = time.perf_counter()
heuristic_models(df, "path", "total_conversions", var_value="total_conversion_value")
heuristic = time.perf_counter() - t0
r, re = res["result"], res["removal_effects"]
json.dump({
    "read_s": read, "markov_s": markov, "heuristic_s": heuristic,
    "credits": dict(zip(r["channel_name"], r["total_conversions"])),
    "removal": dict(zip(re["channel_name"], re["removal_effects_conversion"])),
}, open(out, "w"))
"""


def ensure_venv(venv: Path) -> Path:
    """The venv's python, creating the venv and installing ChannelAttribution if needed."""
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    probe = subprocess.run(
        [str(python), "-c", "import ChannelAttribution, matplotlib"], check=False
    )
    if probe.returncode != 0:
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PACKAGES], check=True)
    return python


def run_channelattribution(python: Path, paths: Path) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        script, out = Path(tmp) / "child.py", Path(tmp) / "out.json"
        script.write_text(_CHILD, encoding="utf-8")
        t0 = time.perf_counter()
        subprocess.run([str(python), str(script), str(paths), str(out)], check=True)
        result: dict[str, object] = json.loads(out.read_text(encoding="utf-8"))
        result["wall_s"] = time.perf_counter() - t0
    return result


def run_margin(paths: Path) -> dict[str, object]:
    from margin.attribution import ModelSettings, attribute, read_paths

    t0 = time.perf_counter()
    table = read_paths(paths)
    read = time.perf_counter() - t0
    t0 = time.perf_counter()
    markov = attribute(table, ["markov"], ModelSettings(n_bootstrap=0))
    markov_s = time.perf_counter() - t0
    return {
        "read_s": read,
        "markov_s": markov_s,
        "credits": {k: v.conversions for k, v in markov.credits["markov"].items()},
        "removal": {k: v["conversions"] for k, v in markov.removal_effects.items()},
    }


def compare(paths: Path, venv: Path) -> tuple[str, dict[str, float]]:
    """A markdown table of removal effects and a summary of differences and times."""
    theirs = run_channelattribution(ensure_venv(venv), paths)
    ours = run_margin(paths)
    removal_t, removal_o = theirs["removal"], ours["removal"]
    assert isinstance(removal_t, dict)
    assert isinstance(removal_o, dict)
    credit_t, credit_o = theirs["credits"], ours["credits"]
    assert isinstance(credit_t, dict)
    assert isinstance(credit_o, dict)
    lines = [
        "| channel | removal effect (margin, exact) | ChannelAttribution | relative difference | credit margin | credit ChannelAttribution |",
        "|---|---|---|---|---|---|",
    ]
    worst = 0.0
    for ch in sorted(removal_o, key=lambda c: -removal_o[c]):
        rel = (removal_t[ch] - removal_o[ch]) / removal_o[ch] if removal_o[ch] else 0.0
        if removal_o[ch] > 0.01:
            worst = max(worst, abs(rel))
        lines.append(
            f"| {ch} | {removal_o[ch]:.4f} | {removal_t[ch]:.4f} | {rel:+.1%} | "
            f"{credit_o[ch]:,.1f} | {credit_t[ch]:,.1f} |"
        )
    summary = {
        "worst_relative_difference": worst,
        "margin_markov_s": float(ours["markov_s"]),  # type: ignore[arg-type]
        "margin_read_s": float(ours["read_s"]),  # type: ignore[arg-type]
        "ca_markov_s": float(theirs["markov_s"]),  # type: ignore[arg-type]
        "ca_heuristic_s": float(theirs["heuristic_s"]),  # type: ignore[arg-type]
        "ca_wall_s": float(theirs["wall_s"]),  # type: ignore[arg-type]
    }
    return "\n".join(lines), summary


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--paths", type=Path, default=DATA)
    parser.add_argument("--venv", type=Path, default=Path("/tmp/margin-channelattribution"))
    args = parser.parse_args()
    table, summary = compare(args.paths, args.venv)
    print(table)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
