"""Task 10, hidden: the planted faults of grader/chaffs_hidden.yaml, one check `10.catches-<id>` each,
graded only in the instructor's grading (`python -m grader --instructor`).

Like every hidden check, they are registered by a `*_hidden.py` module, so that the student edition
leaves them out as files (release/manifest.yaml) together with their data; the verdict is the one
the visible planted faults get (grader.tasks.common).
"""

from __future__ import annotations

from grader import rubric
from grader.chaffs import Chaff
from grader.registry import check
from grader.tasks.common import catches_outcome

TASK = "10"


def hidden_chaff_check(chaff: Chaff):
    """The check of one hidden planted fault: was it caught by a test that passes on the correct images?"""
    def caught(container_tests):
        return catches_outcome(container_tests, chaff=chaff)
    caught.__name__ = caught.__qualname__ = f"caught_{chaff.id.replace('-', '_')}"
    caught.__doc__ = f"{chaff.check_id(TASK)} (hidden): a valid test fails on the image where {chaff.title}."
    return caught


for _hidden in rubric.load().task(TASK).chaffs:
    if _hidden.visibility == "hidden":
        check(_hidden.check_id(TASK), phase="late")(hidden_chaff_check(_hidden))
