"""Broken submissions: each overlay must fail exactly the checks it names, with a clear message."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.options import Options
from grader.results import ERROR, PASSED
from grader.run import grade
from grader.workspace import prepare
from tests.grader.overlays import Overlay, all_paths

REPO = Path(__file__).resolve().parents[2]


OVERLAYS = all_paths()


def test_corpus_is_big_enough_and_well_formed():
    from grader.rubric import load

    known = {c.id for c in load().checks}
    overlays = [Overlay.load(p) for p in OVERLAYS]
    assert len([o for o in overlays if o.fails]) >= 20
    for overlay in overlays:
        assert overlay.fails <= known, f"{overlay.name}: unknown check ids {overlay.fails - known}"
        graded = {c for c in known if c.split(".")[0] in overlay.tasks}
        assert overlay.fails <= graded, f"{overlay.name}: fails checks of tasks it does not grade"
        assert set(overlay.messages) <= graded, f"{overlay.name}: messages for checks it does not grade"
        assert set(overlay.scores) <= overlay.fails, f"{overlay.name}: scores are for failing checks"


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.parametrize("path", OVERLAYS, ids=[p.stem for p in OVERLAYS])
def test_overlay_fails_exactly_its_checks(path: Path, tmp_path: Path, docker_client):
    overlay = Overlay.load(path)
    workdir = prepare(submission=REPO, dest=tmp_path / "submission", solution=True)
    overlay.apply(workdir)
    for alias, source in overlay.tag_images.items():
        docker_client.images.get(source).tag(alias)
    try:
        report = grade(options=Options(submission=workdir, task_ids=overlay.tasks,
                                       instructor=overlay.instructor, workroot=tmp_path))
    finally:
        for alias in overlay.tag_images:
            docker_client.images.remove(alias)
    by_id = {c.id: c for c in report.checks}
    errors = {c.id: c.message for c in report.checks if c.status == ERROR}
    assert not errors, f"grader errors: {errors}"
    failed = {c.id for c in report.checks if c.status != PASSED}
    unexpected = {i: by_id[i].message for i in failed - overlay.fails}
    missed = sorted(overlay.fails - failed)
    assert not unexpected and not missed, (
        f"{overlay.name} ({overlay.description}): unexpected failures {unexpected}; "
        f"expected but passed {missed}"
    )
    for check_id, needle in overlay.messages.items():
        result = by_id[check_id]
        text = " ".join(filter(None, (result.message, result.expected, result.found, result.details)))
        assert needle.lower() in text.lower(), f"{check_id}: {needle!r} not in {text!r}"
    for check_id in overlay.fails:
        assert by_id[check_id].hint and by_id[check_id].section, f"{check_id}: no hint or section"
        expected = overlay.scores.get(check_id, 0)
        assert by_id[check_id].score == expected, (f"{overlay.name}: {check_id} scored {by_id[check_id].score}, "
                                                   f"a careful human gives {expected}")
