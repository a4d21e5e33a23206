"""grader.run: a time budget that runs out still gives a report (no engine needed: static checks)."""

from __future__ import annotations

from pathlib import Path

from grader.cli import EXIT_PARTIAL, exit_code
from grader.options import Options
from grader.run import grade

REPO = Path(__file__).resolve().parents[2]


def test_a_spent_time_budget_fails_the_rest_as_not_checked(tmp_path):
    report = grade(options=Options(submission=REPO, solution=True, task_ids=("6",), time_budget=0.0,
                                   workroot=tmp_path))
    assert report.checks and all(c.status == "failed" for c in report.checks)
    assert {c.message for c in report.checks} == {"Not checked: time budget of 0 s ran out"}
    assert all(c.hint for c in report.checks)
    assert report.errors == ("warning: the time budget of 0 s ran out: the checks not reached fail as not checked",)
    assert exit_code(report) == EXIT_PARTIAL  # graded (below full marks), not "could not grade"
    assert not list(tmp_path.iterdir())


def test_a_budget_large_enough_changes_nothing(tmp_path):
    report = grade(options=Options(submission=REPO, solution=True, task_ids=("6",), time_budget=600,
                                   workroot=tmp_path))
    assert report.score == report.max_score and not report.errors


def test_no_verdict_scores_zero_as_an_error_with_a_regrade_hint():
    from grader.errors import Inconclusive
    from grader.rubric import load
    from grader.run import INCONCLUSIVE_HINT, _error

    spec = load().check("2.builds")
    result = _error(spec, Inconclusive("probe timed out"), seconds=1.0, message="no verdict: probe timed out",
                    hint=INCONCLUSIVE_HINT)
    assert (result.status, result.score, result.message) == ("error", 0.0, "no verdict: probe timed out")
    assert "not a fault in your work" in result.hint
