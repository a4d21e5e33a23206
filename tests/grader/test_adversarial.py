"""Hostile submissions (issue 14): every policy rule refused before anything is built, limits that hold.

Each tests/grader/adversarial/*.yaml is an overlay on the reference (format: tests/grader/corpus/
README.md, loader: tests/grader/overlays.py). The grade must fail exactly the checks it names with
the message it names, within its time limit, and leave nothing of the run on the machine.
"""

from __future__ import annotations

import resource
import shutil
import time
from pathlib import Path

import pytest

from grader.docker import policy
from grader.options import default_timeout_scale
from grader.results import ERROR, PASSED
from grader.rubric import load
from grader.run import grade
from grader.workspace import prepare
from tests.grader.dockerkit import traces
from tests.grader.overlays import REPO, Overlay, fill, make_outside

ADVERSARIAL = Path(__file__).with_name("adversarial")
CASES = sorted(ADVERSARIAL.glob("*.yaml"))
POLICY_WITHIN_S = 60        # a refused stack is refused in seconds (nothing is built or started)
ENDLESS = "mlops-adversarial-endless-build"


def test_every_policy_rule_has_a_case_and_every_case_is_well_formed():
    rules = {r.id for r in policy.rules()}
    overlays = [Overlay.load(p) for p in CASES]
    proved = {o.rule for o in overlays if o.rule}
    assert rules - proved == set(), "policy rules without an adversarial case"
    assert proved - rules == set(), "cases naming rules policy.yaml does not have"
    known = {c.id for c in load().checks}
    for overlay in overlays:
        graded = {c for c in known if c.split(".")[0] in overlay.tasks}
        assert overlay.fails <= graded, f"{overlay.name}: fails checks of tasks it does not grade"
        assert set(overlay.messages) <= overlay.fails
        assert overlay.within or overlay.rule, f"{overlay.name}: says nothing about its time limit"


@pytest.fixture(scope="module")
def reference_copy(tmp_path_factory) -> Path:
    return prepare(submission=REPO, dest=tmp_path_factory.mktemp("adversarial") / "reference", solution=True)


def build_containers(client) -> list[str]:
    """Containers of the endless build step, if the engine kept it running."""
    return [c.name for c in client.containers.list(all=True, ignore_removed=True)
            if ENDLESS in " ".join(c.attrs.get("Config", {}).get("Cmd") or [])]


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_a_hostile_submission_is_a_scored_failure_that_leaves_nothing(path, tmp_path, docker_client, reference_copy):
    overlay = Overlay.load(path)
    workdir = tmp_path / "submission"
    shutil.copytree(reference_copy, workdir, symlinks=True)
    outside = make_outside(tmp_path)
    overlay.apply(workdir, outside=outside)
    events: list[tuple[str, str]] = []
    workroot = tmp_path / "work"
    workroot.mkdir()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    report = grade(options=overlay.options(workdir, workroot=workroot), on_event=lambda k, t: events.append((k, t)))
    seconds = time.monotonic() - started
    peak_growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024

    by_id = {c.id: c for c in report.checks}
    assert not {c.id: c.message for c in report.checks if c.status == ERROR}, "grader errors"
    failed = {c.id for c in report.checks if c.status != PASSED}
    assert failed == overlay.fails, (
        f"{overlay.name} ({overlay.description}): unexpected failures "
        f"{ {i: by_id[i].message for i in failed - overlay.fails} }; expected but passed {sorted(overlay.fails - failed)}")
    for check_id, needle in overlay.messages.items():
        result = by_id[check_id]
        text = " ".join(filter(None, (result.message, result.expected, result.found, result.details)))
        assert fill(needle, outside).lower() in text.lower(), f"{check_id}: {fill(needle, outside)!r} not in {text!r}"
    for check_id in overlay.fails:
        assert by_id[check_id].hint and by_id[check_id].section, f"{check_id}: no hint or section"
    warnings = [e for e in report.errors if e.startswith("warning:")]
    for needle in overlay.warns:
        assert any(fill(needle, outside) in w for w in warnings), f"no warning with {needle!r}: {warnings}"
    assert not report.blocking_errors, report.errors

    # on a machine declared slow (GRADER_TIMEOUT_SCALE, make test's lanes) the limits stretch as the grader's do
    limit = (overlay.within or POLICY_WITHIN_S) * default_timeout_scale()
    assert seconds <= limit, f"took {seconds:.0f} s (limit {limit:.0f} s)"
    if not overlay.builds:
        assert not [t for k, t in events if k == "build"], "something was built before the refusal"
    assert peak_growth_mb < 300, f"the grader's memory grew by {peak_growth_mb:.0f} MB"
    assert traces(docker_client, report.run_id) == []
    assert not list(workroot.iterdir()), "the scratch copy was not removed"
    if overlay.name == "build-never-ends":
        deadline = time.monotonic() + 20  # the engine cancels the step when the grader hangs up
        while build_containers(docker_client) and time.monotonic() < deadline:
            time.sleep(1)
        assert build_containers(docker_client) == []
