"""What every runner of the peer benchmark shares: its arguments and how it reports.

Standard library only, so each peer's own virtual environment can import it (runners put
``bench/peers`` on the path by being run from it).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def runner_parser(doc: str) -> argparse.ArgumentParser:
    """``--data DESC.json --out RESULT.json`` plus the sampler settings shared by all peers."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def write_result(path: Path, result: dict[str, Any]) -> None:
    """Write the fit's result JSON to ``path`` and echo it on stdout (the bench's log)."""
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
