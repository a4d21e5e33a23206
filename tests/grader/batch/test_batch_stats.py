"""The class report: its numbers, its Markdown, and its HTML page rendered in real headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from grader.batch import stats
from grader.cli import main
from tests.grader.batch.batchkit import write_batch_json, write_student

NETWORK = "the API and MLflow services share no declared network"
RESTART = "not every long-running service has a restart policy"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync")


@pytest.fixture
def out(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    write_batch_json(out)
    write_student(out, "ada")
    write_student(out, "bob", {"6.network": NETWORK, "6.restart": RESTART})
    write_student(out, "cy", {"6.network": NETWORK})
    write_student(out, "dee", {"6.network": "network: something else"})
    write_student(out, "eve", status="broken-archive", reason="not a readable zip archive")
    return out


def test_stats_count_pass_rates_means_distribution_and_failures(out: Path):
    result = stats.compute(out)
    assert (result.students, result.reported) == (5, 4)
    assert result.statuses == {"broken-archive": 1, "graded": 4}
    by_id = {c.id: c for c in result.checks}
    assert (by_id["6.network"].passed, by_id["6.network"].graded) == (1, 4)
    assert by_id["6.network"].pass_rate == 0.25
    assert by_id["6.network"].failures == [(NETWORK, 2), ("network: something else", 1)]
    assert by_id["6.restart"].failures == [(RESTART, 1)]
    assert by_id["6.valid"].pass_rate == 1 and by_id["6.valid"].failures == []
    task6 = next(t for t in result.tasks if t.id == "6")
    assert task6.mean == pytest.approx((16 + 12 + 14 + 14) / 4)
    assert dict(result.distribution())["90–100 %"] == 3          # ada 24, cy and dee 22 of 24
    assert dict(result.distribution())["80–89 %"] == 1           # bob: 20 of 24
    assert sum(n for _, n in result.distribution()) == 4


def test_stats_command_writes_markdown_and_html(out: Path):
    assert main(["stats", str(out)]) == 0
    text = (out / "stats.md").read_text()
    assert "| 6.network | Both services join a user-defined network | 1/4 | 25 % |" in text
    assert f"- 2 × {NETWORK}" in text
    page = (out / "stats.html").read_text()
    # Self-contained: no script, style or image is fetched when the page is viewed.
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=[\"']?(https?:)?//", page)
    assert main(["stats", str(out.parent / "nothing")]) == 2


def test_stats_page_renders_charts_and_table_in_headless_chromium(out: Path, tmp_path: Path):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed: run `make setup` (scripts/setup/chromium.sh)", pytrace=False)
    assert main(["stats", str(out)]) == 0
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    done = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom",
                           (out / "stats.html").as_uri()], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    # plotly.js ran: each of the three chart divs now holds an SVG drawn by the browser, with bars.
    for name in ("pass-rate", "tasks", "distribution"):
        chart = dom.split(f'id="chart-{name}"', 1)[1].split('<div class="chart"', 1)[0]
        assert 'class="main-svg"' in chart, f"chart {name} was not drawn"
        assert chart.count('class="point"') >= 2, f"chart {name} has no bars"
    # The table rendered: one row per check of tasks 3 and 6, with the failure counts.
    rows = re.findall(r'<tr data-check="([^"]+)"', dom)
    assert rows[:3] == ["3.ignore-patterns", "3.context-size", "3.image-clean"] and len(rows) == 10
    assert f"<b>2</b> × {NETWORK}" in dom
