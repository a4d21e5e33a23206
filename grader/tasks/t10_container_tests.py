"""Task 10: the student's container tests, graded by the faults they catch ("wheats and chaffs").

After Brown's Examplar: a test suite is good when it passes on correct implementations and fails on
known-faulty ones. 10.passes-correct: the tests in tests/container/ run in the grader's sandbox and
pass on every correct image (the student's own API image; in instructor mode also the reference
image). 10.catches-<id>, one per planted fault of grader/chaffs.yaml (the hidden ones are
t10_hidden's): at least one test that passes on every correct image fails on the image with that
fault. A test that fails on a correct image catches nothing (it would "catch" every fault), so only
the tests that pass on all correct images count (grader.tasks.common). The runs themselves are
grader.docker.container_tests'.
"""

from __future__ import annotations

import logging

from grader import rubric
from grader.chaffs import Chaff
from grader.registry import check
from grader.results import Outcome, fail, ok
from grader.tasks.common import DETAILS_CHARS, SHOWN, catches_outcome, short_names, valid_tests

__all__ = ["catches_outcome", "passes_correct", "passes_correct_outcome", "short_names", "valid_tests"]

log = logging.getLogger(__name__)

TASK_ID = "10"
# Late: the sandboxed runs start a dozen containers, and on a 2-core machine under load, run beside
# the inspect checks, 7.logged-visible failed while they ran (a full grade, load average 15-20). They
# stop nothing, so any phase is correct. Their resource starts in the background as the late phase
# begins, narrower while the stack's late checks run (grader.run.LATE_PREFETCH), and the checks
# come last.
PHASE = "late"


def passes_correct_outcome(result) -> Outcome:
    """10.passes-correct from a ContainerTests. When some tests fail on a correct image, the failure
    is the rubric's `some-tests-fail` situation, measured as the share of the tests that pass on
    every correct image (the rubric says what that share is worth)."""
    labels = " and ".join(w.label for w in result.wheats)
    for wheat in result.wheats:
        run = wheat.run
        if run.error:
            return fail(f"your tests gave no result on {wheat.label}: {run.error}",
                        expected="pytest to run tests/container/ and report", found=run.error,
                        details=run.output[-DETAILS_CHARS:] or None)
        if run.collect_errors:
            first = run.collect_errors[0]
            return fail(f"pytest could not collect {first.name}", expected="test files that import and collect",
                        found=first.message or first.name, details=run.output[-DETAILS_CHARS:] or None)
        if not run.tests:
            return fail("pytest found no tests in tests/container/", expected="test_* functions in test_*.py files",
                        found=f"{', '.join(result.files)}: no tests collected (pytest exit code {run.exit_code})",
                        details=run.output[-DETAILS_CHARS:] or None)
    every = sorted({t.nodeid for w in result.wheats for t in w.run.tests})
    valid = valid_tests(result)
    took = " + ".join(f"{w.run.seconds:.0f} s" for w in result.wheats)
    if len(valid) == len(every):
        return ok(f"{len(every)} test(s) of {len(result.files)} file(s) ran in the sandbox and passed on {labels} "
                  f"({took})")
    failing = [(w.label, t) for w in result.wheats for t in w.run.not_passed]
    names = short_names(every)
    found = "; ".join(f"{names.get(t.nodeid, t.name)} on {label}: {t.outcome}"
                      + (f" ({t.message.splitlines()[0][:200]})" if t.message else "") for label, t in failing[:SHOWN])
    refused = {r for w in result.wheats for r in w.run.refused}
    details = "\n".join(filter(None, [
        "The sandbox refused these Docker API requests: " + "; ".join(sorted(refused)) if refused else "",
        *(w.run.output[-DETAILS_CHARS:] for w in result.wheats if w.run.not_passed)]))
    return fail(f"{len(every) - len(valid)} of {len(every)} test(s) fail on a correct image (a test that fails on a "
                "correct image is wrong, and cannot catch a fault)",
                expected=f"every test to pass on {labels}", found=found, details=details or None,
                partial="some-tests-fail", measure=len(valid) / len(every))


@check("10.passes-correct", phase=PHASE)
def passes_correct(container_tests):
    """10.passes-correct: the tests run in the sandbox and pass on every correct image."""
    return passes_correct_outcome(container_tests)


def _catches(chaff: Chaff):
    def catches(container_tests):
        return catches_outcome(container_tests, chaff=chaff)
    catches.__name__ = catches.__qualname__ = f"catches_{chaff.id.replace('-', '_')}"
    catches.__doc__ = f"{chaff.check_id(TASK_ID)}: the tests fail on the image where {chaff.title}."
    return catches


# One check per visible planted fault, from the same data the rubric reads (grader/chaffs.yaml);
# the hidden ones are grader.tasks.t10_hidden's, a module the student edition leaves out.
for _chaff in rubric.load().task(TASK_ID).chaffs:
    if _chaff.visibility == "visible":
        check(_chaff.check_id(TASK_ID), phase=PHASE)(_catches(_chaff))
