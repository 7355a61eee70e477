"""The "coming from" walkthroughs in ``docs/`` run as a user would run them, on the peers' data.

Each page marks its commands with a fenced ``bash`` block whose first line is
``# walkthrough: NAME``; these tests read the commands from the page (so the page and the test
cannot drift), run them in a temporary folder with ``../shared/data`` pointing at the peer
datasets, and check the figures the page quotes within a stated tolerance. The MMM fits are the
approximate ones the pages show (about 90 s for the whole file on two cores).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from _cli import margin, words

DOCS = Path(__file__).resolve().parents[1] / "docs"

ROI_TOLERANCE = 0.05
"""How far a fitted ROI mean may sit from the page's figure (approximate fits, other CPUs)."""

LIFT_TOLERANCE = 10.0
"""How far a measured cumulative lift may sit from the page's figure, in KPI units."""

pytestmark = pytest.mark.shared_data


def walkthrough(page: str, name: str) -> list[str]:
    """The commands of ``docs/PAGE``'s block marked ``# walkthrough: NAME``, one per line."""
    text = (DOCS / page).read_text()
    blocks = re.findall(r"```bash\n# walkthrough: (\S+)\n(.*?)```", text, flags=re.S)
    commands = [block for found, block in blocks if found == name]
    assert len(commands) == 1, f"{page}: expected one block '# walkthrough: {name}'"
    return [line for line in commands[0].splitlines() if line.strip()]


def run_walkthrough(page: str, name: str, data: Path, cwd: Path) -> str:
    """Run the walkthrough's commands in ``cwd`` and return what they printed, all of it."""
    printed = []
    for line in walkthrough(page, name):
        argv = shlex.split(line.replace("../shared/data/", f"{data}/"))
        if argv[0] == "margin":
            done = margin(*argv[1:], cwd=cwd)
        else:
            assert argv[0] == "python", f"{page}: unexpected command {line!r}"
            done = subprocess.run(
                [sys.executable, *argv[1:]], capture_output=True, text=True, cwd=cwd, check=False
            )
        assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
        printed.append(done.stdout + done.stderr)
    return "\n".join(printed)


def summary(run: Path) -> dict[str, Any]:
    """The run's ``summary.json``."""
    result: dict[str, Any] = json.loads((run / "summary.json").read_text())
    return result


def assert_quoted(page: str, figure: str) -> None:
    """The page quotes ``figure`` verbatim."""
    assert figure in (DOCS / page).read_text(), f"{page} no longer quotes {figure!r}"


def test_robyn_walkthrough(shared_data: Path, tmp_path: Path) -> None:
    """Robyn's demo data: import, approximate fit, bounded plan and report, as the page says."""
    run_walkthrough("coming-from-robyn.md", "robyn", shared_data, tmp_path)
    fitted = summary(tmp_path / "robyn-run")
    assert fitted["channels_order"] == ["tv", "ooh", "print", "search", "facebook"]
    assert fitted["fit"]["method"] == "approximate"
    assert_quoted("coming-from-robyn.md", "| tv | 3,087,488 | 6.11 [4.11, 8.32] |")
    assert abs(fitted["channels"]["tv"]["roi"]["mean"] - 6.11) <= ROI_TOLERANCE
    plan = json.loads((tmp_path / "robyn-plan.json").read_text())
    assert plan
    assert (tmp_path / "robyn-report.html").stat().st_size > 0


def test_meridian_walkthrough(shared_data: Path, tmp_path: Path) -> None:
    """Meridian's 40-geo data: import, approximate fit and bounded plan, as the page says."""
    printed = run_walkthrough("coming-from-meridian.md", "meridian", shared_data, tmp_path)
    fitted = summary(tmp_path / "meridian-run")
    assert fitted["channels_order"] == [f"Channel{i}" for i in range(5)]
    assert fitted["kpi"]["type"] == "conversions"
    assert_quoted("coming-from-meridian.md", "| Channel3 | 87,860,358 | 0.64 [0.17, 1.37] |")
    assert abs(fitted["channels"]["Channel3"]["roi"]["mean"] - 0.64) <= ROI_TOLERANCE
    assert (tmp_path / "meridian-plan.json").is_file()
    assert "Moves limited to ±50% of current spend" in words(printed)


def test_pymc_walkthrough_as_imported_warns(shared_data: Path, tmp_path: Path) -> None:
    """PyMC-Marketing's example as imported (spend 0–1, sales ~5,000): the conflict and its fix."""
    printed = words(run_walkthrough("coming-from-pymc-marketing.md", "pymc", shared_data, tmp_path))
    assert "PRIOR-DATA CONFLICT" in printed
    assert "multiply it by 1,000" in printed
    assert_quoted("coming-from-pymc-marketing.md", "multiply it by 1,000 before importing")


def test_pymc_walkthrough_rescaled(shared_data: Path, tmp_path: Path) -> None:
    """Spend ×1,000: no conflict, and the ROI the page quotes."""
    page = "coming-from-pymc-marketing.md"
    printed = words(run_walkthrough(page, "pymc-x1000", shared_data, tmp_path))
    assert "PRIOR-DATA CONFLICT" not in printed
    fitted = summary(tmp_path / "pymc1000-run")
    assert_quoted(page, "| x1 | 55,326 | 4.21 [3.26, 5.30] |")
    assert abs(fitted["channels"]["x1"]["roi"]["mean"] - 4.21) <= ROI_TOLERANCE
    assert_quoted(page, "| x2 | 28,971 | 2.33 [2.17, 2.48] |")
    assert abs(fitted["channels"]["x2"]["roi"]["mean"] - 2.33) <= ROI_TOLERANCE


def test_geolift_walkthrough(shared_data: Path, tmp_path: Path) -> None:
    """GeoLift's walkthrough: --method geolift gives GeoLift's 4,667 units and ATT 155.6."""
    page = "coming-from-geolift.md"
    run_walkthrough(page, "geolift", shared_data, tmp_path)
    geolift = json.loads((tmp_path / "geolift-lift.json").read_text())
    assert_quoted(page, "cumulative lift      4,667")
    assert abs(geolift["cumulative_lift"]["mean"] - 4667) <= LIFT_TOLERANCE
    assert abs(geolift["att"]["mean"] - 155.6) <= 0.5
    ascm = json.loads((tmp_path / "ascm-lift.json").read_text())
    assert_quoted(page, "cumulative lift      5,808")
    assert abs(ascm["cumulative_lift"]["mean"] - 5808) <= LIFT_TOLERANCE
