"""A class graded for real: parallel, killed with kill -9 halfway, resumed, nothing left behind."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader.batch import records
from grader.constants import LABEL_RUN
from grader.options import default_timeout_scale
from grader.results import ERROR, PASSED
from tests.grader.batch.classroom import make_class

REPO = Path(__file__).resolve().parents[3]
# Static and cheap tasks keep this under a minute: task 6 reads the compose file, task 3 also
# builds the API image (warm build cache) and inspects it, so killed runs have images to clean up.
TASKS = ("3", "6")
KILL_AFTER = 4   # committed grades before the kill -9


def leftovers(docker_client, run_ids) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for run_id in run_ids:
        selector = {"label": f"{LABEL_RUN}={run_id}"}
        items = [*(c.name for c in docker_client.containers.list(all=True, filters=selector)),
                 *(n.name for n in docker_client.networks.list(filters=selector)),
                 *(v.name for v in docker_client.volumes.list(filters=selector)),
                 *(i.id for i in docker_client.images.list(filters=selector))]
        if items:
            found[run_id] = items
    return found


def grading_processes(run_ids) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if b"grader.batch.child" in cmdline and any(r.encode() in cmdline for r in run_ids):
                pids.append(int(proc.name))
    return pids


@pytest.mark.docker
@pytest.mark.slow
def test_batch_grades_a_class_survives_kill_9_and_leaves_nothing(tmp_path: Path, docker_client):
    expected = make_class(tmp_path / "class", task_ids=TASKS, instructor=True)
    gradable = [s for s in expected if s != "pauli.txt"]   # pauli.txt is a row at once, never a run
    out = tmp_path / "out"
    command = [sys.executable, "-m", "grader", "batch", str(tmp_path / "class"), "--out", str(out),
               "--jobs", "2", "--instructor", "--live", "no", *(a for t in TASKS for a in ("--task", t))]

    # 1. Start, and kill -9 the batch once a few grades are committed.
    with open(tmp_path / "first.log", "w") as log:
        first = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    runs: set[str] = set()
    deadline = time.monotonic() + 240 * default_timeout_scale()
    while len([r for r in records.load_all(out) if r.run_id]) < KILL_AFTER:
        assert first.poll() is None, "the batch finished before it could be killed:\n" + \
            (tmp_path / "first.log").read_text()
        assert time.monotonic() < deadline, (tmp_path / "first.log").read_text()
        if (out / ".work").is_dir():
            runs |= {p.name for p in (out / ".work").iterdir()}
        time.sleep(0.05)
    if (out / ".work").is_dir():
        runs |= {p.name for p in (out / ".work").iterdir()}
    first.kill()   # SIGKILL: no handler, no cleanup in the batch itself
    first.wait()
    committed = {r.student: r.run_id for r in records.load_all(out) if r.run_id}
    assert KILL_AFTER <= len(committed) < len(gradable), committed
    # The children die with the batch (PR_SET_PDEATHSIG -> SIGTERM -> the grader's teardown).
    deadline = time.monotonic() + 120 * default_timeout_scale()
    while grading_processes(runs) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not grading_processes(runs), "grading children outlived the killed batch"

    # 2. Rerun: it cleans up the killed runs and grades only the rest.
    second = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=400)
    assert second.returncode == 1, second.stderr   # 1: the class has rows that cannot be graded
    planned = re.search(r"(\d+) to grade, (\d+) unchanged", second.stderr)
    assert planned, second.stderr
    assert (int(planned.group(1)), int(planned.group(2))) == (len(gradable) - len(committed), len(committed))
    after = {r.student: r for r in records.load_all(out)}
    for student, run_id in committed.items():
        assert after[student].run_id == run_id, f"{student} was graded again"

    # 3. Every student's result is right, check by check.
    assert set(after) == set(expected)
    for student, want in expected.items():
        record = after[student]
        assert record.status == want.status, (student, record.status, record.reason)
        if want.status != "graded":
            assert record.reason, student
            continue
        report = json.loads(records.report_path(out, student).read_text())
        checks = [c for t in report["tasks"] for c in t["checks"]]
        assert not [c["id"] for c in checks if c["status"] == ERROR], student
        failed = {c["id"] for c in checks if c["status"] != PASSED}
        assert failed == set(want.fails), f"{student}: failed {sorted(failed)}, expected {sorted(want.fails)}"
        folder = records.student_dir(out, student)
        assert (folder / "feedback.md").read_text().startswith("## Docker for MLOps grader")
        assert "<testsuites" in (folder / "junit.xml").read_text()

    # 4. The gradebook, the Canvas CSV and the class report are written.
    book = (out / "gradebook.csv").read_text().splitlines()
    assert len(book) == 1 + len(expected)
    assert any(line.startswith("noether,broken-archive,,") for line in book)
    canvas = (out / "canvas.csv").read_text().splitlines()
    assert canvas[0].startswith("Student,ID,SIS User ID,SIS Login ID,Section,") and len(canvas) == 2 + len(expected)
    stats = subprocess.run([sys.executable, "-m", "grader", "stats", str(out)], cwd=REPO, capture_output=True,
                           text=True, timeout=120)
    assert stats.returncode == 0, stats.stderr
    assert "6.network" in (out / "stats.md").read_text()
    assert 'data-check="6.network"' in (out / "stats.html").read_text()

    # 5. Nothing of any run is left: no container, network, volume, image, scratch folder or process.
    runs |= {r.run_id for r in after.values() if r.run_id}
    assert not leftovers(docker_client, runs)
    assert not (out / ".work").exists() or not any((out / ".work").iterdir())
    assert not grading_processes(runs)
