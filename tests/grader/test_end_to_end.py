"""Whole grading runs: the reference gets full marks, the skeleton gets zero, nothing is left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.context import LABEL_RUN, Options
from grader.results import ERROR, PASSED
from grader.rubric import load
from grader.run import grade

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.docker, pytest.mark.slow]


def leftovers(client, run_id: str) -> dict[str, list]:
    selector = {"label": f"{LABEL_RUN}={run_id}"}
    return {
        "containers": client.containers.list(all=True, filters=selector),
        "networks": client.networks.list(filters=selector),
        "volumes": client.volumes.list(filters=selector),
        "images": client.images.list(filters=selector),
    }


def test_reference_scores_full_marks_and_cleans_up(docker_client, tmp_path):
    report = grade(options=Options(submission=REPO, solution=True, instructor=True, workroot=tmp_path))
    problems = {c.id: f"{c.status}: {c.message} | found: {c.found}" for c in report.checks if c.status != PASSED}
    assert not problems, problems
    assert report.score == report.max_score == 100
    assert not report.errors
    assert len(report.checks) == len(load().checks)
    assert not any(leftovers(docker_client, report.run_id).values())
    assert not list(tmp_path.iterdir()), "the scratch copy was not removed"


def test_skeleton_scores_zero_with_a_hint_for_every_check(tmp_path):
    report = grade(options=Options(submission=REPO, instructor=True, workroot=tmp_path))
    assert report.score == 0, {c.id: c.message for c in report.checks if c.score}
    for check in report.checks:
        assert check.status != ERROR, f"{check.id} crashed: {check.message}"
        assert check.hint and check.section and check.message, check.id
        assert check.expected and check.found, f"{check.id} does not say what was expected and found"


def test_student_mode_hides_hidden_checks_and_still_gives_full_marks(tmp_path):
    report = grade(options=Options(submission=REPO, solution=True, task_ids=("7",), workroot=tmp_path))
    assert all(c.visibility == "visible" for c in report.checks)
    visible = load().select(task_ids=["7"])
    assert report.score == report.max_score == sum(c.points for c in visible) == 12
