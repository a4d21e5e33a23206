"""Which edition a grader is: the marker file decides (pure logic; the editions' behaviour end to end
is in test_release.py)."""

from __future__ import annotations

from pathlib import Path

from grader import edition


def test_this_repository_is_the_instructor_edition():
    assert not edition.EDITION_FILE.exists(), "grader/edition.yaml belongs in a student edition only"
    assert edition.current() == edition.Edition(name=edition.INSTRUCTOR)
    assert edition.instructor_only("`--solution`") is None


def test_the_marker_makes_a_student_edition(tmp_path: Path):
    marker = tmp_path / "edition.yaml"
    marker.write_text("edition: student\nreleased_from: abc123\nreleased_at: '2026-01-05T10:00:00+00:00'\n"
                      "fail_below_full: true\n")
    found = edition.current(marker)
    assert found.student and found.fail_below_full
    assert (found.released_from, found.released_at) == ("abc123", "2026-01-05T10:00:00+00:00")
    message = edition.instructor_only("`--solution`", edition=found)
    assert message.startswith("`--solution` belongs to the instructor edition")
    assert "abc123" in message and "python -m grader" in message


def test_an_unreadable_marker_still_marks_a_student_edition(tmp_path: Path):
    for content in (": : not yaml [", "just a string", ""):
        marker = tmp_path / "edition.yaml"
        marker.write_text(content)
        found = edition.current(marker)
        assert found.student and not found.fail_below_full and found.released_from is None
        assert "belongs to the instructor edition" in edition.instructor_only("`--instructor`", edition=found)


def test_only_a_literal_true_fails_below_full(tmp_path: Path):
    marker = tmp_path / "edition.yaml"
    marker.write_text("fail_below_full: 'yes please'\n")
    assert not edition.current(marker).fail_below_full
