"""GitHub Classroom: the runner result that `autograding-grading-reporter` decodes, base64-encoded.

Field names verified against the runner that defines the format,
classroom-resources/autograding-io-grader src/main.js, which sets the step output
`result = base64(JSON.stringify({version: 1, status, max_score, tests: [{name, status, message,
test_code, filename, line_no, duration, score}]}))` (duration in milliseconds), and against
classroom-resources/autograding-grading-reporter: src/main.js base64-decodes the env variable
`<RUNNER-ID>_RESULTS` of every runner and fails the job when `status` is "fail" or "error";
src/helpers/test-helpers.js and src/notify-classroom.js add up `tests[].score` against the
top-level `max_score`; console-results.js prints each test's `name` and, unless `status` is
"pass", its `message`.

Workflow step (the step id names the runner):
    - id: grader
      run: echo "result=$(python -m grader --format classroom)" >> "$GITHUB_OUTPUT"
    - uses: classroom-resources/autograding-grading-reporter@v1
      env: {GRADER_RESULTS: "${{ steps.grader.outputs.result }}"}
      with: {runners: grader}
"""

from __future__ import annotations

import base64
import json

from grader.reporters.explain import explain, visible_checks
from grader.results import ERROR, GradeReport

MESSAGE_MAX_CHARS = 4000   # keeps the step output far below GitHub's 1 MB output limit


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 2)


def _status(check) -> str:
    return "pass" if check.passed else "error" if check.status == ERROR else "fail"


def _message(check, errors) -> str | None:
    if check.passed:
        return None  # the io-grader sends null for a passing test
    text = explain(check, errors=errors).as_text(indent="")
    return text if len(text) <= MESSAGE_MAX_CHARS else text[:MESSAGE_MAX_CHARS - 3] + "..."


def as_dict(report: GradeReport) -> dict:
    checks = [c for _, c in visible_checks(report)]
    if any(c.status == ERROR for c in checks) or (report.blocking_errors and not checks):
        status = "error"
    elif all(c.passed for c in checks) and not report.blocking_errors:
        status = "pass"
    else:
        status = "fail"
    return {
        "version": 1,
        "status": status,
        "max_score": _number(report.max_score),
        "tests": [
            {
                "name": f"{c.id} {c.title}",
                "status": _status(c),
                "message": _message(c, report.errors),
                "test_code": f"python -m grader --task {c.task_id}",
                "filename": c.section.split("#", 1)[0],
                "line_no": 0,
                "duration": int(round(c.duration_s * 1000)),
                "score": _number(c.score),
            }
            for c in checks
        ],
    }


def render_json(report: GradeReport) -> str:
    return json.dumps(as_dict(report), ensure_ascii=False)


def render(report: GradeReport) -> str:
    """One line of base64 (no wrapping), the value of the runner's `result` output."""
    return base64.b64encode(render_json(report).encode("utf-8")).decode("ascii") + "\n"


def decode(encoded: str) -> dict:
    """What the reporter does: base64-decode and parse (used by tests and for debugging)."""
    return json.loads(base64.b64decode(encoded.strip()).decode("utf-8"))
