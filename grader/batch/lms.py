"""canvas.csv: the batch's totals in Canvas's gradebook import format.

The format, from Canvas's importer (instructure/canvas-lms, app/models/gradebook_importer.rb) and
its guide "How do I import grades in the Gradebook?" (community.canvaslms.com, Instructor Guide):
- The header row starts with the student columns `Student, ID, SIS User ID, SIS Login ID, Section`:
  the importer requires "Student" first and "ID" second, reads an optional "SIS User ID" /
  "SIS Login ID" pair, and requires the last student column to be "Section".
- Every other column is an assignment: "Title (assignment id)" updates that assignment; a title
  without an id matches an assignment by title, or Canvas creates a new one.
- A row whose first cell contains "Points Possible" sets the points of new assignments.
- Canvas finds the student by ID (Canvas user id), then by SIS User ID / SIS Login ID, then by
  name (Student). An empty grade cell changes nothing.
So: without a roster, `Student` and `SIS Login ID` hold the student id (the entry's name, often the
login); with `roster` (a Canvas gradebook export) the row takes the student's real Student, ID,
SIS ids and Section from the export row that matches. Only `graded` rows get a score: an
ungradable submission keeps its Canvas grade, and gradebook.csv says why.
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

from grader.batch.records import GRADED, Record, atomic_write, load_all
from grader.reporters.explain import points

log = logging.getLogger(__name__)

FILENAME = "canvas.csv"
STUDENT_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
DEFAULT_ASSIGNMENT = "Docker for MLOps lab"


class RosterError(ValueError):
    """The roster file is not a Canvas gradebook export (message says what is missing)."""


def read_roster(path: Path) -> dict[str, dict[str, str]]:
    """A Canvas gradebook export (CSV) as {key: student columns}, keyed by every identifier of a row.

    Keys are the lower-cased SIS Login ID, SIS User ID, ID and Student of each row, so a student id
    that is any of them finds the row. "Points Possible" and muted-marker rows are skipped.
    Raises RosterError when the header has no Student / ID columns; OSError when unreadable.
    """
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or "Student" not in reader.fieldnames or "ID" not in reader.fieldnames:
            raise RosterError(f"{path}: not a Canvas gradebook export (its header needs Student and ID columns)")
        roster: dict[str, dict[str, str]] = {}
        for raw in reader:
            name = (raw.get("Student") or "").strip()
            if not name or "Points Possible" in name or not (raw.get("ID") or "").strip():
                continue
            student = {column: (raw.get(column) or "").strip() for column in STUDENT_COLUMNS}
            for column in ("SIS Login ID", "SIS User ID", "ID", "Student"):
                key = student[column].lower()
                if key:
                    roster.setdefault(key, student)
        return roster


def _assignment_header(assignment: str, assignment_id: str | None) -> str:
    return f"{assignment} ({assignment_id})" if assignment_id else assignment


def render(records: list[Record], *, assignment: str = DEFAULT_ASSIGNMENT, assignment_id: str | None = None,
           points_possible: float | None = None, roster: dict | None = None) -> tuple[str, list[str]]:
    """(canvas.csv text, students not found in `roster`).

    `points_possible` (points) goes in the Points Possible row; default: the highest `max_score`.
    """
    if points_possible is None:
        points_possible = max((r.max_score for r in records if r.max_score), default=0)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*STUDENT_COLUMNS, _assignment_header(assignment, assignment_id)])
    writer.writerow(["Points Possible", "", "", "", "", points(points_possible)])
    unmatched = []
    for record in sorted(records, key=lambda r: r.student):
        student = None
        if roster is not None:
            student = roster.get(record.student.lower())
            if student is None:
                unmatched.append(record.student)
        if student is None:
            student = {"Student": record.student, "ID": "", "SIS User ID": "", "SIS Login ID": record.student,
                       "Section": ""}
        score = points(record.score) if record.status == GRADED and record.score is not None else ""
        writer.writerow([*(student[c] for c in STUDENT_COLUMNS), score])
    return buffer.getvalue(), unmatched


def write(out: Path, *, assignment: str = DEFAULT_ASSIGNMENT, assignment_id: str | None = None,
          roster_path: Path | None = None) -> tuple[Path, list[str]]:
    """Write OUT/canvas.csv from the records under `out`; (its path, students missing from the roster)."""
    roster = read_roster(roster_path) if roster_path else None
    text, unmatched = render(load_all(out), assignment=assignment, assignment_id=assignment_id, roster=roster)
    path = out / FILENAME
    atomic_write(path, text)
    for student in unmatched:
        log.warning("canvas.csv: %s is not in the roster; its row uses the student id as SIS Login ID", student)
    return path, unmatched
