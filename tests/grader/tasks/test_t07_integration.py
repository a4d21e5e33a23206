"""Task 7 (and the live checks of tasks 4 and 8) graded end to end on real stacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.constants import LABEL_RUN
from grader.results import PASSED
from grader.tasks.t07_integration import explain_unreachable
from tests.grader.dockerkit import leftovers

REPO = Path(__file__).resolve().parents[3]
MINE = ("4.", "6.", "7.", "8.")


@pytest.mark.docker
def test_reference_gets_full_marks_on_tasks_4_6_7_8(reference_run):
    report, _ = reference_run
    mine = [c for c in report.checks if c.id.startswith(MINE)]
    assert {c.id for c in mine} >= {"7.stack-healthy", "7.api-reaches-mlflow", "7.logged-visible", "7.persists",
                                    "4.structured-log", "4.log-file", "8.push-pull"}
    failed = [(c.id, c.status, c.message, c.found) for c in mine if c.status != PASSED]
    assert failed == []
    assert report.errors == ()


@pytest.mark.docker
def test_the_stack_ran_isolated(reference_run):
    _, observer = reference_run
    snap = observer.snapshot
    assert snap, "the stack never reported healthy"
    assert {c["Config"]["Labels"]["com.docker.compose.service"] for c in snap["containers"]} == {"mlapp", "mlflow"}
    for attrs in snap["containers"]:
        assert attrs["Config"]["Labels"][LABEL_RUN] == snap["run_id"]
        assert not attrs["HostConfig"].get("PortBindings"), "no host ports are published"
    assert [n["Name"] for n in snap["networks"]] == [f"mlops-grader-{snap['run_id']}-net-mlops"]
    assert [v["Name"] for v in snap["volumes"]] == [f"mlops-grader-{snap['run_id']}-vol-mlflow-data"]
    assert all(x["Labels"][LABEL_RUN] == snap["run_id"] for x in snap["networks"] + snap["volumes"])


@pytest.mark.docker
def test_nothing_is_left_behind(reference_run, docker_client):
    _, observer = reference_run
    assert leftovers(docker_client, observer.snapshot["run_id"]) == []


@pytest.mark.parametrize(("status", "text", "expected"), [
    (None, "URLError: <urlopen error [Errno -2] Name or service not known>", "does not resolve"),
    (None, "URLError: <urlopen error [Errno 111] Connection refused>", "nothing listens at `mlflow:5000`"),
    (500, "oops", "the call answered 500"),
])
def test_unreachable_explanations(status, text, expected):
    assert expected in explain_unreachable("http://mlflow:5000", status, text)
