"""`pytest grader`: run for real in a subprocess, as a student would from the repository root."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from grader.rubric import load

REPO = Path(__file__).resolve().parents[2]


def pytest_grader(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    # -p no:randomly and friends are not installed; keep the student's plain invocation.
    return subprocess.run([sys.executable, "-m", "pytest", "grader", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})


def collected_ids(out: str) -> list[str]:
    return re.findall(r"test_lab\.py::test_check\[([^\]]+)\]", out)


def test_one_test_per_check_in_rubric_order():
    done = pytest_grader("--collect-only", "-q")
    assert done.returncode == 0, done.stdout + done.stderr
    assert collected_ids(done.stdout) == [c.id for c in load().select()]
    instructor = pytest_grader("--collect-only", "-q", "--instructor")
    assert collected_ids(instructor.stdout) == [c.id for c in load().select(instructor=True)]


def test_task_option_selects_tasks():
    done = pytest_grader("--collect-only", "-q", "--task", "3", "--task", "6")
    assert collected_ids(done.stdout) == [c.id for c in load().select(task_ids=["3", "6"])]


def test_unknown_task_is_a_usage_error():
    done = pytest_grader("--task", "42")
    assert done.returncode == 4, done.stdout + done.stderr        # pytest's ExitCode.USAGE_ERROR
    assert "unknown task id" in done.stderr


def test_make_test_never_collects_the_grader_entry():
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "grader" not in config["testpaths"]


def test_skeleton_task6_fails_every_check_with_what_to_fix():
    done = pytest_grader("--task", "6", "-rN")
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert "7 failed" in out
    assert "test_check[6.valid]" in out
    for label in ("What happened: Not checked", "Expected:", "How to fix:", "Read:", "labs/06-compose.md#services"):
        assert label in out
    assert "Traceback" not in out
    assert "Score: 0/16" in out                                     # the terminal summary


@pytest.mark.docker
@pytest.mark.slow
def test_reference_task3_passes():
    done = pytest_grader("--task", "3", "--solution")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout
    assert "Score: 8/8" in done.stdout


def test_deselected_tasks_are_not_graded():
    done = pytest_grader("-k", "restart")                  # only 6.restart is left: grade task 6 alone
    assert "(tasks 6)" in done.stdout, done.stdout
    assert re.search(r"1 failed, \d+ deselected", done.stdout)


def test_only_grades_when_named():
    done = subprocess.run([sys.executable, "-m", "pytest", ".", "--collect-only", "-q", "--ignore=tests",
                           "--ignore=starter", "--ignore=notebooks"], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert "test_lab.py" not in done.stdout, done.stdout
    named = subprocess.run([sys.executable, "-m", "pytest", "grader/test_lab.py", "--collect-only", "-q"],
                           cwd=REPO, capture_output=True, text=True, timeout=300)
    assert collected_ids(named.stdout) == [c.id for c in load().select()]
