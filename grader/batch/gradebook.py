"""gradebook.csv: one row per student with the status, total, max, and a column per task and per check.

Columns, in this order (docs/grading-a-class.md#gradebookcsv):
`id, status, total, max, task_<id>..., <check id>..., reason, because, previous_total, changes,
graded_at, run_id`. Points are numbers as the rubric writes them ("3", "1.5"); a row that was not
graded (status other than graded / grader-error) has empty score cells and says why in `reason`.
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

from grader.batch.records import Record, atomic_write, load_all
from grader.reporters.explain import points
from grader.rubric import load

log = logging.getLogger(__name__)

FILENAME = "gradebook.csv"
LEAD = ("id", "status", "total", "max")
TRAIL = ("reason", "because", "previous_total", "changes", "graded_at", "run_id")


def _number(value) -> str:
    return "" if value is None else points(float(value))


def selection(check_ids) -> tuple[list[tuple[str, str]], list[str]]:
    """(tasks, checks) columns for `check_ids` (any order), in rubric order: [(task id, title)], [check id]."""
    wanted = set(check_ids)
    rubric = load()
    checks = [c.id for c in rubric.checks if c.id in wanted]
    tasks = [(t.id, t.title) for t in rubric.tasks if any(c.id in wanted for c in t.checks)]
    unknown = wanted - set(checks)
    return tasks, checks + sorted(unknown)  # unknown ids (another rubric version) stay visible, last


def header(check_ids) -> list[str]:
    """The gradebook's column names for the checks `check_ids` (see the module docstring)."""
    tasks, checks = selection(check_ids)
    return [*LEAD, *(f"task_{task_id}" for task_id, _ in tasks), *checks, *TRAIL]


def row(record: Record, check_ids) -> dict[str, str]:
    """The CSV row of one record (a dict keyed by `header(check_ids)`)."""
    tasks, checks = selection(check_ids)
    previous = record.previous or {}
    out = {"id": record.student, "status": record.status, "total": _number(record.score),
           "max": _number(record.max_score), "reason": record.reason, "because": record.because,
           "previous_total": _number(previous.get("score")), "changes": record.changes,
           "graded_at": record.finished_at or "", "run_id": record.run_id or ""}
    for task_id, _ in tasks:
        out[f"task_{task_id}"] = _number(record.tasks.get(task_id))
    for check_id in checks:
        out[check_id] = _number(record.checks.get(check_id))
    return out


def render(records: list[Record], check_ids) -> str:
    """gradebook.csv as text (RFC 4180, `\\r\\n` line ends as the csv module writes them)."""
    buffer = io.StringIO()
    names = header(check_ids)
    writer = csv.DictWriter(buffer, fieldnames=names, extrasaction="ignore")
    writer.writeheader()
    for record in sorted(records, key=lambda r: r.student):
        writer.writerow(row(record, check_ids))
    return buffer.getvalue()


def all_check_ids(records: list[Record], selected=()) -> list[str]:
    """The check columns: the batch's selection plus any check a record has (merged shards)."""
    found = set(selected)
    for record in records:
        found |= set(record.checks)
    return sorted(found)


def write(out: Path, *, selected=()) -> Path:
    """Write OUT/gradebook.csv from every record under `out`; return its path."""
    records = load_all(out)
    path = out / FILENAME
    atomic_write(path, render(records, all_check_ids(records, selected)))
    return path
