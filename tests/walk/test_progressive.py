"""Every lab is passable when it ends: the submission at the end of lab N (labs/states 02..N over the
skeletons, later deliverables still skeletons) scores full marks on task N, and no check of task N
names a later task or lab in its hint or message (issue 10)."""

from __future__ import annotations

import re
import uuid

import pytest

from grader import registry, resources
from grader.context import Context
from grader.options import Options
from grader.rubric import load
from grader.run import grade
from scripts import walk

RUBRIC = load()
SCORED = [int(t.id) for t in RUBRIC.tasks if t.scored and t.checks]
# A later task or lab named in a text: a check id (`6.valid`), "Lab 6"/"lab06", "task 6", a handout path.
REFERENCES = (re.compile(r"(?<![\w.])(\d{1,2})\.[a-z][a-z0-9-]*"), re.compile(r"\b[Ll]abs? ?(\d{1,2})\b"),
              re.compile(r"\b[Tt]asks? (\d{1,2})\b"), re.compile(r"\blabs/(\d{2})-"))


def later_references(text: str | None, lab: int) -> list[str]:
    """The names of tasks or labs after `lab` in `text` ("Fix 6.valid first" names task 6)."""
    return [m.group(0) for pattern in REFERENCES for m in pattern.finditer(text or "") if int(m.group(1)) > lab]


def test_later_references():
    assert later_references("Fix 6.valid first: run `docker compose config`", 4) == ["6.valid"]
    assert later_references("Lab 6 teaches it; see labs/07-integrated-stack.md", 5) == ["Lab 6", "labs/07-"]
    assert later_references("python:3.11-slim-bookworm on 0.0.0.0:5000, 2.builds, lab04-api, task 3", 4) == []
    assert later_references(None, 2) == []


@pytest.mark.parametrize("lab", SCORED, ids=lambda n: f"task{n}")
def test_no_hint_of_a_task_names_a_later_lab(lab):
    """The rubric's hints, and the checks each failure would send the student to fix first."""
    problems = []
    for spec in RUBRIC.task(str(lab)).checks:
        problems += [f"{spec.id} hint names {ref}" for ref in later_references(spec.hint, lab)]
        needs = resources.closure(registry.get(spec.id).requires)
        for name in sorted(needs):
            blame = resources.provider(name).blame
            if blame and int(blame.split(".")[0]) > lab:
                problems.append(f"{spec.id} needs `{name}`: when it cannot be made the hint says "
                                f"'Fix {blame} first', a check of a later lab")
    assert not problems, "\n".join(problems)


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.parametrize("lab", SCORED, ids=lambda n: f"lab{n:02d}")
def test_the_state_at_the_end_of_a_lab_scores_full_marks_on_its_task(lab, tmp_path):
    submission = walk.make_submission(tmp_path / "submission", lab=lab)
    report = grade(options=Options(submission=submission, task_ids=(str(lab),), workroot=tmp_path))
    assert not report.errors, report.errors
    failed = [f"{c.id} {c.status}: {c.message}\n  expected: {c.expected}\n  found: {c.found}\n  hint: {c.hint}"
              for c in report.checks if not c.passed]
    assert not failed, f"the submission at the end of lab {lab} misses points on task {lab}:\n" + "\n".join(failed)
    assert report.score == report.max_score > 0
    named = [f"{c.id}: {ref}" for c in report.checks for ref in later_references(c.message, lab)
             + later_references(c.hint, lab)]
    assert not named, f"checks of task {lab} name a later task or lab:\n" + "\n".join(named)


@pytest.mark.docker
@pytest.mark.slow
def test_the_multi_stage_image_of_lab_9_is_smaller_than_the_image_of_lab_2(tmp_path):
    """What the labs build: Lab 9 promises a smaller image than the student's own Lab 2 image."""
    sizes, problems = {}, []
    for lab in (2, 9):
        scratch = tmp_path / f"lab{lab:02d}"
        ctx = Context(options=Options(submission=walk.REPO), run_id="t" + uuid.uuid4().hex[:9],
                      workdir=scratch / "submission", scratch=scratch)
        try:
            walk.make_submission(ctx.workdir, lab=lab)
            sizes[lab] = ctx.get("mlapp_image").size
        finally:
            problems += ctx.close()
    assert not problems, problems
    assert sizes[9] < sizes[2], f"Lab 9's image is {sizes[9] / 1e6:.0f} MB, Lab 2's {sizes[2] / 1e6:.0f} MB"
