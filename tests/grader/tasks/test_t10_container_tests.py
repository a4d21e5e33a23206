"""Task 10's verdicts from the runs' outcomes (pure logic), and a submission without container tests."""

from __future__ import annotations

import pytest

from grader import rubric
from grader.context import Context
from grader.docker.container_tests import ChaffRun, ContainerTests, WheatRun
from grader.docker.planting import Proof
from grader.docker.sandbox import SuiteRun, TestOutcome
from grader.errors import Inconclusive, ResourceError
from grader.options import Options
from grader.run import run_check
from grader.tasks import t10_container_tests as t10

FILE = "tests/container/test_api.py"
CHAFFS = {c.id: c for c in rubric.load().task("10").chaffs}


def suite(**outcomes: str) -> SuiteRun:
    """A run where test `name` had outcome `outcomes[name]` ("passed", "failed", ...)."""
    return SuiteRun(image="x", tests=tuple(TestOutcome(f"{FILE}::{name}", outcome, "" if outcome == "passed"
                                                       else f"assert {name}") for name, outcome in outcomes.items()),
                    exit_code=0, seconds=3.0)


def result(wheat: SuiteRun, *, reference: SuiteRun | None = None, proofs=None, **chaffs: ChaffRun) -> ContainerTests:
    wheats = [WheatRun("your API image", wheat, proofs or {})]
    if reference is not None:
        wheats.append(WheatRun("the reference image", reference))
    return ContainerTests(files=(FILE,), wheats=tuple(wheats), chaffs=chaffs, seconds=10.0)


def planted(chaff_id: str, run: SuiteRun) -> ChaffRun:
    return ChaffRun(chaff=CHAFFS[chaff_id], planted=True, run=run, proof=Proof(True, "PID 1 runs as uid 0"))


def test_all_tests_passing_on_the_correct_image():
    outcome = t10.passes_correct_outcome(result(suite(test_user="passed", test_health="passed")))
    assert outcome.passed and outcome.message.startswith("2 test(s) of 1 file(s) ran in the sandbox and passed")


def test_a_test_failing_on_the_correct_image_is_named_and_costs_its_share():
    outcome = t10.passes_correct_outcome(result(suite(test_user="failed", test_a="passed", test_b="passed",
                                                      test_c="passed")))
    assert not outcome.passed and (outcome.partial, outcome.measure) == ("some-tests-fail", pytest.approx(0.75))
    assert rubric.load().check("10.passes-correct").share(outcome.partial, outcome.measure) == pytest.approx(0.75)
    assert "test_user on your API image: failed (assert test_user)" in outcome.found


def test_the_reference_image_is_a_correct_image_too():
    outcome = t10.passes_correct_outcome(result(suite(test_layout="passed", test_user="passed"),
                                                reference=suite(test_layout="failed", test_user="passed")))
    assert not outcome.passed and "test_layout on the reference image: failed" in outcome.found
    assert t10.valid_tests(result(suite(a="passed", b="passed"), reference=suite(a="failed", b="passed"))) == {
        f"{FILE}::b"}


@pytest.mark.parametrize(("run", "says"), [
    (SuiteRun(image="x", error="the tests did not finish within 150 s"), "gave no result on your API image"),
    (SuiteRun(image="x", exit_code=5), "pytest found no tests"),
    (SuiteRun(image="x", collect_errors=(TestOutcome(FILE, "error", "ModuleNotFoundError: No module named 'httpx'"),)),
     "could not collect"),
])
def test_a_suite_that_gives_no_result_says_why(run, says):
    outcome = t10.passes_correct_outcome(result(run))
    assert not outcome.passed and says in outcome.message


def test_a_fault_is_caught_by_a_test_that_passes_on_the_correct_image_and_fails_on_it():
    tests = result(suite(test_user="passed", test_health="passed"),
                   **{"runs-as-root": planted("runs-as-root", suite(test_user="failed", test_health="passed"))})
    outcome = t10.catches_outcome(tests, chaff=CHAFFS["runs-as-root"])
    assert outcome.passed and outcome.message.startswith("caught by test_user (planted: PID 1 runs as uid 0; "
                                                         "test_user: assert test_user)")


def test_a_fault_that_survives_is_named():
    tests = result(suite(test_health="passed"), **{"runs-as-root": planted("runs-as-root", suite(test_health="passed"))})
    outcome = t10.catches_outcome(tests, chaff=CHAFFS["runs-as-root"])
    assert not outcome.passed and outcome.message == "this fault survived your tests: the API runs as root"
    assert "all 1 test(s) that pass on the correct image also passed with the fault" in outcome.found


def test_a_test_that_fails_everywhere_catches_nothing():
    tests = result(suite(test_false="failed", test_health="passed"),
                   **{"runs-as-root": planted("runs-as-root", suite(test_false="failed", test_health="passed"))})
    assert not t10.catches_outcome(tests, chaff=CHAFFS["runs-as-root"]).passed


def test_no_valid_test_means_not_checked_until_the_suite_is_fixed():
    tests = result(suite(test_false="failed"), **{"runs-as-root": planted("runs-as-root", suite(test_false="failed"))})
    with pytest.raises(ResourceError) as info:
        t10.catches_outcome(tests, chaff=CHAFFS["runs-as-root"])
    assert info.value.blame == "10.passes-correct"


def test_a_fault_the_correct_image_already_has_cannot_be_caught():
    tests = result(suite(test_user="failed", test_health="passed"),
                   proofs={"runs-as-root": Proof(True, "PID 1 runs as uid 0")},
                   **{"runs-as-root": planted("runs-as-root", suite(test_user="failed", test_health="passed"))})
    outcome = t10.catches_outcome(tests, chaff=CHAFFS["runs-as-root"])
    assert not outcome.passed and outcome.message.startswith("your API image already has this fault")


def test_a_fault_that_could_not_be_planted_does_not_count_against_the_student():
    tests = result(suite(test_health="passed"), **{"model-missing": ChaffRun(
        chaff=CHAFFS["model-missing"], planted=False, reason="no model file (*.joblib) was found in the image")})
    outcome = t10.catches_outcome(tests, chaff=CHAFFS["model-missing"])
    assert outcome.passed and "could not plant this fault (no model file" in outcome.message


def test_a_fault_whose_proof_gave_no_answer_is_no_verdict_not_free_points():
    # the grader's own probe timed out (a busy machine): neither the points nor a failure (status error)
    tests = result(suite(test_health="passed"), **{"binds-localhost": ChaffRun(
        chaff=CHAFFS["binds-localhost"], planted=False, unproven=True,
        proof=Proof(False, "could not read /proc/net/tcp (exit 124)", inconclusive=True),
        reason="the planted fault did not show")})
    with pytest.raises(Inconclusive, match="gave no answer"):
        t10.catches_outcome(tests, chaff=CHAFFS["binds-localhost"])


def test_short_names():
    assert t10.short_names([f"{FILE}::a", f"{FILE}::b[x]"]) == {f"{FILE}::a": "a", f"{FILE}::b[x]": "b[x]"}
    two = ["tests/container/test_a.py::a", "tests/container/test_b.py::a"]
    assert t10.short_names(two) == {two[0]: "test_a.py::a", two[1]: "test_b.py::a"}


def test_every_chaff_has_its_check():
    from grader import registry

    checks = registry.load_all()
    assert {f"10.catches-{c}" for c in CHAFFS} <= set(checks)
    assert checks["10.catches-runs-as-root"].requires == ("container_tests",)


def test_no_container_tests_scores_zero_with_a_hint_and_builds_nothing(tmp_path, repo):
    """The skeleton has no tests/container/: every task 10 check fails before any image is built."""
    from grader.workspace import prepare

    workdir = prepare(submission=repo, dest=tmp_path / "submission")
    ctx = Context(options=Options(submission=repo), run_id="test", workdir=workdir, scratch=tmp_path)
    spec = rubric.load()
    results = [run_check(ctx, check, rubric=spec) for check in spec.select(task_ids=["10"])]
    first, rest = results[0], results[1:]
    assert first.id == "10.passes-correct" and first.status == "failed" and first.score == 0
    assert first.message == "no tests/container/ folder in the submission" and "tests/container" in first.hint
    assert all(r.status == "failed" and r.message.startswith("Not checked: no tests/container/") for r in rest)
    assert all(r.hint.startswith("Fix 10.passes-correct first") for r in rest)
    assert ctx._docker is None  # no engine was needed to say so


def test_the_reference_image_is_a_correct_image_in_instructor_mode_only(tmp_path):
    from grader.docker.container_tests import KIT_REFERENCE, reference_dockerfile

    mine = tmp_path / "Dockerfile.mlapp"
    mine.write_text("FROM python:3.11-slim-bookworm\n")
    assert reference_dockerfile(Options(submission=tmp_path)) is None
    assert reference_dockerfile(Options(submission=tmp_path, instructor=True, reference_dockerfile=mine)) == mine
    assert reference_dockerfile(Options(submission=tmp_path, instructor=True)) == KIT_REFERENCE
    assert KIT_REFERENCE.is_file()  # the kit's own solutions/, never the submission's
    missing = tmp_path / "nowhere" / "Dockerfile.mlapp"
    assert reference_dockerfile(Options(submission=tmp_path, instructor=True, reference_dockerfile=missing)) is None


@pytest.mark.docker
def test_reference_scores_full_marks_on_task_10(reference_run):
    """Every chaff of grader/chaffs.yaml (the hidden one included: instructor mode) is really planted in
    the reference image and caught by the reference container tests (solutions/tests/container), and
    those tests pass on the correct image. Read from the session's one graded reference (issue 13)."""
    results = {c.id: c for c in reference_run[0].checks if c.task_id == "10"}
    assert {i: (c.status, c.message) for i, c in results.items() if not c.passed} == {}
    assert set(results) == {"10.passes-correct"} | {f"10.catches-{chaff_id}" for chaff_id in CHAFFS}

    # A fault the grader could not plant also scores ok ("not graded on your image: ..."), so requiring
    # "caught by" checks that each fault was really planted, and caught.
    assert "passed on your API image" in results["10.passes-correct"].message
    for chaff_id in CHAFFS:
        assert results[f"10.catches-{chaff_id}"].message.startswith("caught by "), results[f"10.catches-{chaff_id}"].message
