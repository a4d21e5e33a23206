"""pytest plugin of the grader's test runner: one JSON line per test in the file $MLOPS_RESULTS.

Baked into the test-runner image (grader/docker/runner/Dockerfile) and loaded with
`-p container_tests_report`. Each line is {"event": "start"|"end"|"collect-error", "nodeid": ...,
"outcome": "passed"|"failed"|"error"|"skipped", "message": the first lines of the failure}; lines
are written as tests start and end, so a run cut off by the time limit still says which test was
running. Standard library only (besides pytest's hooks).
"""

from __future__ import annotations

import json
import os

MESSAGE_CHARS = 600
_outcomes: dict[str, tuple[str, str]] = {}


def _write(record: dict) -> None:
    path = os.environ.get("MLOPS_RESULTS")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")


def short_message(text: str) -> str:
    """The lines of a failure that say what went wrong: pytest's `E ` lines, else the last lines."""
    lines = [line for line in (text or "").splitlines() if line.strip()]
    errors = [line[1:].strip() for line in lines if line.startswith("E ")]
    chosen = errors[:4] if errors else lines[-3:]
    return "\n".join(chosen)[:MESSAGE_CHARS]


def pytest_runtest_logstart(nodeid, location):
    _outcomes[nodeid] = ("passed", "")
    _write({"event": "start", "nodeid": nodeid})


def pytest_runtest_logreport(report):
    outcome, message = _outcomes.get(report.nodeid, ("passed", ""))
    if report.failed and outcome not in ("failed", "error"):
        outcome = "failed" if report.when == "call" else "error"
        message = short_message(report.longreprtext)
    elif report.skipped and outcome == "passed":
        outcome = "skipped"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longreprtext
        message = str(reason)[:MESSAGE_CHARS]
    _outcomes[report.nodeid] = (outcome, message)


def pytest_runtest_logfinish(nodeid, location):
    outcome, message = _outcomes.get(nodeid, ("error", "no report"))
    _write({"event": "end", "nodeid": nodeid, "outcome": outcome, "message": message})


def pytest_collectreport(report):
    if report.failed:
        _write({"event": "collect-error", "nodeid": report.nodeid or "(collection)", "outcome": "error",
                "message": short_message(report.longreprtext)})
