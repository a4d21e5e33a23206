"""Task 7's hidden check: its own module (the student edition leaves it out as a file), graded end to end."""

from __future__ import annotations

import pytest

from grader import registry
from grader.results import PASSED
from grader.rubric import load
from grader.tasks import t07_hidden


def test_the_module_implements_exactly_the_hidden_checks_of_task_7():
    registry.load_all()
    mine = {c.id for c in load().checks if registry.get(c.id).func.__module__ == t07_hidden.__name__}
    hidden = {c.id for c in load().checks if c.task_id == "7" and c.visibility == "hidden"}
    assert mine == hidden == {"7.survives-outage"}
    assert registry.get("7.survives-outage").phase == "late"     # it stops a service of the stack


@pytest.mark.docker
def test_reference_keeps_predicting_while_mlflow_is_down(reference_run):
    report, _ = reference_run
    result = next(c for c in report.checks if c.id == "7.survives-outage")
    assert (result.status, result.visibility) == (PASSED, "hidden"), (result.message, result.found)
    assert "still answered 200" in result.message
