"""Whole grading runs: the reference gets full marks, the skeleton gets zero, nothing is left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.options import Options
from grader.results import ERROR, PASSED
from grader.rubric import load
from grader.run import grade
from tests.grader.dockerkit import leftovers

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.docker


@pytest.mark.slow
def test_reference_scores_full_marks_and_cleans_up(docker_client, reference_run):
    report, observer = reference_run
    problems = {c.id: f"{c.status}: {c.message} | found: {c.found}" for c in report.checks if c.status != PASSED}
    assert not problems, problems
    assert report.score == report.max_score == 111
    assert not report.errors
    assert len(report.checks) == len(load().checks)
    assert leftovers(docker_client, report.run_id) == []
    assert not list(observer.workroot.iterdir()), "the scratch copy was not removed"


def test_skeleton_scores_zero_with_a_hint_for_every_check(tmp_path):
    report = grade(options=Options(submission=REPO, instructor=True, workroot=tmp_path))
    assert report.score == 0, {c.id: c.message for c in report.checks if c.score}
    assert len(report.checks) == len(load().checks)
    for check in report.checks:
        assert check.status != ERROR, f"{check.id} crashed: {check.message}"
        assert check.hint and check.section and check.message, check.id
        assert check.expected and check.found, f"{check.id} does not say what was expected and found"


def test_student_mode_runs_no_hidden_check(tmp_path):
    # The skeleton is enough: which checks run does not depend on the submission.
    report = grade(options=Options(submission=REPO, task_ids=("7",), workroot=tmp_path))
    assert [c.id for c in report.checks] == [c.id for c in load().select(task_ids=["7"])]
    assert all(c.visibility == "visible" for c in report.checks)
    assert report.max_score == 12
