"""`pytest grader`: each rubric check as a test that fails with what to fix (see conftest.py)."""

from __future__ import annotations

import pytest

from grader.reporters.explain import failure_text, points


def test_check(check_id: str, grade_report, record_property) -> None:
    result = next((c for c in grade_report.checks if c.id == check_id), None)
    if result is None:
        pytest.fail(f"{check_id} was not graded: {'; '.join(grade_report.errors) or 'unknown reason'}",
                    pytrace=False)
    record_property("points", f"{points(result.score)}/{points(result.max_score)}")
    if not result.passed:
        pytest.fail(failure_text(result, errors=grade_report.errors), pytrace=False)
