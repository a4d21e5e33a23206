"""Hand-made batch outputs (records and reports, no grading) for the gradebook, shard and stats tests."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from grader.batch import records
from grader.batch.records import Record
from grader.results import FAILED, PASSED, CheckResult, GradeReport, TaskResult
from grader.rubric import load

TASKS = ("3", "6")


def report(student: str, fails: dict[str, str], *, run_id: str = "abcdef123456") -> GradeReport:
    """A report of tasks 3 and 6 where the checks in `fails` failed with those messages."""
    tasks = []
    for task in load().tasks:
        if task.id not in TASKS:
            continue
        checks = tuple(
            CheckResult(id=c.id, task_id=c.task_id, title=c.title, status=FAILED if c.id in fails else PASSED,
                        score=0.0 if c.id in fails else c.points, max_score=c.points,
                        message=fails.get(c.id, "fine"), expected="x" if c.id in fails else None,
                        found="y" if c.id in fails else None, hint=c.hint if c.id in fails else None,
                        section=c.section, visibility=c.visibility)
            for c in task.checks)
        tasks.append(TaskResult(id=task.id, title=task.title, section=task.section, checks=checks))
    return GradeReport(run_id=run_id, submission=f"/class/{student}", mode="instructor", grader_version="1.0.0",
                       started_at="2026-11-22T06:31:00+00:00", duration_s=3.0, tasks=tuple(tasks),
                       environment={"python": "3.11", "platform": "linux"})


def write_student(out: Path, student: str, fails: dict[str, str] | None = None, *, status: str = "graded",
                  reason: str = "", finished_at: str = "2026-11-22T06:32:00+00:00", options_hash: str = "o1") -> Record:
    """Commit a record (and, when graded, its report) for `student` under `out`."""
    previous = records.load(out, student)
    record = Record(student=student, status=status, reason=reason, options_hash=options_hash,
                    run_id="abcdef123456", finished_at=finished_at, content_hash="c1")
    files = {}
    if status == "graded":
        rep = report(student, fails or {})
        record.score, record.max_score = rep.score, rep.max_score
        record.tasks = {t.id: t.score for t in rep.tasks}
        record.checks = {c.id: c.score for c in rep.checks}
        files["report.json"] = json.dumps(rep.to_dict())
    record.changes = records.changes(previous, record)
    record.previous = None if previous is None else {"score": previous.score}
    records.commit(out, record, files=files, previous=previous)
    return record


def write_batch_json(out: Path, *, options_hash: str = "o1", shard: str | None = None) -> None:
    checks = [c.id for c in load().select(task_ids=TASKS, instructor=True)]
    records.write_json(out / "batch.json", {"options_hash": options_hash, "options": {"tasks": list(TASKS)},
                                            "checks": checks, "shard": shard})


def as_dict(record: Record) -> dict:
    return asdict(record)
