"""Task 10: the student's container tests, graded by the faults they catch ("wheats and chaffs").

After Brown's Examplar: a test suite is good when it passes on correct implementations and fails on
known-faulty ones. 10.passes-correct: the tests in tests/container/ run in the grader's sandbox and
pass on every correct image (the student's own API image; in instructor mode also the reference
image). 10.catches-<id>, one per planted fault of grader/chaffs.yaml: at least one test that passes
on every correct image fails on the image with that fault. A test that fails on a correct image
catches nothing (it would "catch" every fault), so only the tests that pass on all correct images
count. The runs themselves are grader.docker.container_tests'.
"""

from __future__ import annotations

import logging

from grader import rubric
from grader.chaffs import Chaff
from grader.errors import ResourceError
from grader.registry import check
from grader.results import Outcome, fail, ok

log = logging.getLogger(__name__)

TASK_ID = "10"
# Last, after the stack's checks: the sandboxed runs start a dozen containers, and on a 2-core machine
# under load, run beside the inspect checks, 7.logged-visible failed while they ran (a full grade,
# load average 15-20). They stop nothing, so any phase is correct; last is fair to the others.
PHASE = "late"
SHOWN = 4             # tests named in a message before "and N more"
DETAILS_CHARS = 3000  # characters of pytest's output in a check's details


def short_names(nodeids) -> dict[str, str]:
    """How messages name tests: `test_x` when all are in one file, else `test_file.py::test_x`."""
    files = {n.partition("::")[0] for n in nodeids}
    return {n: n.partition("::")[2] if len(files) == 1 and "::" in n else n.split("/")[-1] for n in nodeids}


def _names(nodeids, *, shown: int = SHOWN) -> str:
    names = [short_names(nodeids)[n] for n in sorted(nodeids)]
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def valid_tests(result) -> frozenset[str]:
    """The tests that passed on every correct image: the only ones that may catch a fault."""
    sets = [w.run.passed for w in result.wheats]
    return frozenset.intersection(*sets) if sets else frozenset()


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


def catches_outcome(result, *, chaff: Chaff) -> Outcome:
    """10.catches-<id> from a ContainerTests: did a valid test fail on the image with this fault?

    Raises ResourceError (blamed on 10.passes-correct) when no test passes on the correct images.
    """
    valid = valid_tests(result)
    if not valid:
        raise ResourceError("no test passes on a correct image, so none can tell a faulty image apart",
                            blame="10.passes-correct")
    already = [(w.label, w.proofs[chaff.id]) for w in result.wheats if chaff.id in w.proofs and w.proofs[chaff.id].holds]
    if already:
        label, proof = already[0]
        return fail(f"{label} already has this fault ({chaff.title}), so it cannot be told apart from it",
                    expected="a correct image to compare with: fix the image first",
                    found=f"on {label}: {proof.evidence}")
    planted = result.chaffs.get(chaff.id)
    if planted is None:
        raise ResourceError(f"the planted fault {chaff.id} was not run", blame="10.passes-correct")
    if not planted.planted:
        return ok(f"not graded on your image: the grader could not plant this fault ({planted.reason}); "
                  "it does not count against you")
    run = planted.run
    if run.error:
        return fail(f"your tests gave no result on the image where {chaff.title}: {run.error}",
                    expected="the tests to run to the end", found=run.error, details=run.output[-DETAILS_CHARS:] or None)
    caught = sorted(n for n in valid if run.outcome(n).outcome != "passed")
    evidence = f"planted: {planted.proof.evidence}" if planted.proof else "planted"
    if caught:
        first = run.outcome(caught[0])
        why = f": {first.message.splitlines()[0][:160]}" if first.message else f" ({first.outcome})"
        return ok(f"caught by {_names(caught)} ({evidence}; {short_names(valid)[first.nodeid]}{why})")
    return fail(f"this fault survived your tests: {chaff.title}",
                expected="a test that passes on the correct image to fail on this one",
                found=f"all {len(valid)} test(s) that pass on the correct image also passed with the fault ({evidence})",
                details=run.output[-DETAILS_CHARS:] or None)


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


# One check per planted fault, from the same data the rubric reads (grader/chaffs.yaml).
for _chaff in rubric.load().task(TASK_ID).chaffs:
    check(_chaff.check_id(TASK_ID), phase=PHASE)(_catches(_chaff))
