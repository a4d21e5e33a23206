"""pytest plugin of the grader's test runner: one JSON line per test in the file $MLOPS_RESULTS.

Baked into the test-runner image (grader/docker/runner/Dockerfile) and loaded with
`-p container_tests_report`. Each line is {"event": "start"|"end"|"collect-error", "nodeid": ...,
"outcome": "passed"|"failed"|"error"|"skipped", "message": the first lines of the failure}; lines
are written as tests start and end, so a run cut off by the time limit still says which test was
running. Standard library only (besides pytest's hooks).

With $MLOPS_STOP_ON (a JSON file: a list of node ids), the run stops once one of those tests ends
without passing (issue 13: on a planted fault, the first test that passes on the correct images
and fails there decides the check; the tests after it would not change it). Every test before it
runs as it would without, in the same order.
"""

from __future__ import annotations

import json
import os

MESSAGE_CHARS = 600
_outcomes: dict[str, tuple[str, str]] = {}
_run: dict = {}   # "session": the pytest session, "stop_on": the node ids read from $MLOPS_STOP_ON


def stop_on(path: str | None) -> frozenset[str]:
    """The node ids in the JSON file `path` (a list of strings); empty when there is none or it is malformed."""
    if not path:
        return frozenset()
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return frozenset()
    return frozenset(n for n in data if isinstance(n, str)) if isinstance(data, list) else frozenset()


def pytest_sessionstart(session):
    _run.update(session=session, stop_on=stop_on(os.environ.get("MLOPS_STOP_ON")))


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
    if outcome != "passed" and nodeid in _run.get("stop_on", ()):
        _run["session"].shouldstop = f"{nodeid} did not pass: the grader needs no more (MLOPS_STOP_ON)"


def pytest_collectreport(report):
    if report.failed:
        _write({"event": "collect-error", "nodeid": report.nodeid or "(collection)", "outcome": "error",
                "message": short_message(report.longreprtext)})
