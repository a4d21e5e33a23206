"""Gradescope results.json, following the autograder specification.

Verified against https://gradescope-autograders.readthedocs.io/en/latest/specs/ ("Output format"):
top level `score`, `execution_time` (s), `output`, `visibility`, `stdout_visibility`, `tests`;
per test `score`, `max_score`, `status` ("passed"/"failed"), `name`, `number`, `output`, `tags`,
`visibility` ("hidden", "after_due_date", "after_published", "visible"), `extra_data`.
Write it to /autograder/results/results.json in run_autograder:
    python -m grader /autograder/submission --format gradescope --output /autograder/results/results.json
"""

from __future__ import annotations

import json

from grader.reporters.explain import failure_text, hidden_note, score_line, visible_checks
from grader.results import GradeReport


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 2)


def _test(check, *, errors) -> dict:
    return {
        "name": f"{check.id} {check.title}",
        "number": check.id,
        "score": _number(check.score),
        "max_score": _number(check.max_score),
        "status": "passed" if check.passed else "failed",
        "output": check.message if check.passed else failure_text(check, errors=errors),
        "tags": [f"task-{check.task_id}"],
        # Hidden checks stay out of sight until the instructor publishes the grades.
        "visibility": "after_published" if check.visibility == "hidden" else "visible",
        "extra_data": {"status": check.status, "section": check.section},
    }


def as_dict(report: GradeReport) -> dict:
    summary = [score_line(report)] + list(report.blocking_errors) + [f"NOTE: {n}" for n in report.notes]
    note = hidden_note(report)
    if note:
        summary.append(note)
    return {
        "score": _number(report.score),
        "max_score": _number(report.max_score),
        "execution_time": int(round(report.duration_s)),
        "output": "\n".join(summary),
        "visibility": "visible",
        # The grader's stdout is a debugging log for instructors, not feedback.
        "stdout_visibility": "hidden",
        "tests": [_test(check, errors=report.errors) for _, check in visible_checks(report)],
        "extra_data": {"run_id": report.run_id, "grader_version": report.grader_version,
                       "schema_version": report.schema_version},
    }


def render(report: GradeReport) -> str:
    return json.dumps(as_dict(report), indent=2, ensure_ascii=False) + "\n"
