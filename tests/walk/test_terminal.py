"""The labs walked in a terminal: every shell cell of labs 1-10, pasted in order into one plain bash
session at the root of a scratch copy (no venv on PATH, no lab variables: a fresh terminal), with
each lab's exercise done by labs/states where its handout has `## Exercise`. Every cell succeeds,
checked outputs match after nbval's sanitizing, and the labs' clean-up cells leave nothing behind.

Skipped by declared rules only (scripts/walk.py): cells marked `# notebook-only` (their terminal
equivalent, `source .venv/bin/activate`, runs instead) and the grading cells, whose claim (full
marks on task N at the end of lab N, from the same states) tests/walk/test_progressive.py proves
through the grader's API; lab 1's `python -m grader doctor` runs, so the CLI is proven in the terminal.
"""

from __future__ import annotations

import logging

import pytest

from scripts import walk

log = logging.getLogger(__name__)


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_every_lab_runs_in_a_plain_terminal(tmp_path):
    workdir = walk.scratch_clone(tmp_path / "repo")
    report = walk.walk(workdir, on_result=lambda r: log.info("%s", r.describe()))
    log.info("terminal walk:\n%s", report.summary())
    print(report.summary())
    failures = "\n\n".join(r.describe() for r in report.failures)
    assert not report.failures, f"{failures}\n\n{report.summary()}"
    every = [cell for path in walk.handouts().values() for cell in walk.cells(path)]
    assert len(report.results) == len(every), "the walk did not reach the end of lab 10"
    skipped = [r for r in report.results if r.outcome == "skipped"]
    assert all(r.cell.notebook_only or r.cell.grading for r in skipped), [r.describe() for r in skipped]
    assert not report.leftovers, f"the labs' clean-up cells left these behind: {report.leftovers}"
