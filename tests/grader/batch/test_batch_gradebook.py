"""gradebook.csv, canvas.csv (Canvas's gradebook import format), records and history. No engine."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from grader.batch import gradebook, lms, records
from tests.grader.batch.batchkit import write_batch_json, write_student


def read_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


@pytest.fixture
def out(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    write_batch_json(out)
    write_student(out, "ada")
    write_student(out, "bob", {"6.restart": "not every long-running service has a restart policy"})
    write_student(out, "cy, the third", status="broken-archive", reason="member '../x' points outside the archive (..)")
    return out


def test_gradebook_has_a_row_per_student_and_a_column_per_task_and_check(out: Path):
    path = gradebook.write(out, selected=json.loads((out / "batch.json").read_text())["checks"])
    rows = read_csv(path.read_text())
    head = rows[0]
    assert head[:6] == ["id", "status", "total", "max", "task_3", "task_6"]
    assert head[6:9] == ["3.ignore-patterns", "3.context-size", "3.image-clean"]
    assert head[-6:] == ["reason", "because", "previous_total", "changes", "graded_at", "run_id"]
    table = {r[0]: dict(zip(head, r, strict=True)) for r in rows[1:]}
    assert set(table) == {"ada", "bob", "cy, the third"}
    assert (table["ada"]["status"], table["ada"]["total"], table["ada"]["max"]) == ("graded", "24", "24")
    assert (table["bob"]["total"], table["bob"]["task_6"], table["bob"]["6.restart"]) == ("22", "14", "0")
    broken = table["cy, the third"]
    assert broken["status"] == "broken-archive" and "outside the archive" in broken["reason"]
    assert broken["total"] == broken["6.restart"] == ""


def test_regrade_keeps_history_and_the_gradebook_shows_what_changed(out: Path):
    before = records.load(out, "bob")
    write_student(out, "bob", {}, finished_at="2026-11-23T08:00:00+00:00")   # bob fixed 6.restart
    after = records.load(out, "bob")
    assert after.changes == "total 22→24; 6.restart 0→2"
    history = records.history(out, "bob")
    assert [h.score for h in history] == [before.score]
    kept = next((out / "students" / "bob" / "history").iterdir())
    assert json.loads((kept / "report.json").read_text())["tasks"][1]["checks"][-1]["status"] == "failed"
    rows = read_csv(gradebook.render(records.load_all(out), after.checks))
    row = dict(zip(rows[0], next(r for r in rows if r[0] == "bob"), strict=True))
    assert row["changes"] == "total 22→24; 6.restart 0→2" and row["previous_total"] == "22"


def test_atomic_write_leaves_no_partial_file(tmp_path: Path):
    target = tmp_path / "f.json"
    records.atomic_write(target, "old")
    with pytest.raises(TypeError):
        records.atomic_write(target, 42)   # fails before the rename
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_canvas_csv_follows_the_gradebook_importer(out: Path):
    path, unmatched = lms.write(out, assignment="Docker lab", assignment_id="4711")
    rows = read_csv(path.read_text())
    # Canvas (gradebook_importer.rb): "Student" first, "ID" second, SIS columns, "Section" last of the
    # student columns; then "Title (assignment id)"; a "Points Possible" row.
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Docker lab (4711)"]
    assert rows[1] == ["Points Possible", "", "", "", "", "24"]
    by_login = {r[3]: r for r in rows[2:]}
    assert by_login["ada"][-1] == "24" and by_login["bob"][-1] == "22"
    assert by_login["cy, the third"][-1] == ""    # not graded: Canvas keeps its grade
    assert unmatched == []


def test_canvas_csv_takes_names_ids_and_sections_from_a_roster(out: Path, tmp_path: Path):
    roster = tmp_path / "export.csv"
    roster.write_text(
        "\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,Lab 1 (12)\n"
        "    Points Possible,,,,,10\n"
        "\"Lovelace, Ada\",1001,S-1,ada,Section A,9\n"
        "\"Babbage, Bob\",1002,S-2,bbabbage,Section B,7\n", encoding="utf-8")
    path, unmatched = lms.write(out, roster_path=roster)
    rows = read_csv(path.read_text())
    ada = next(r for r in rows if r[1] == "1001")
    assert ada == ["Lovelace, Ada", "1001", "S-1", "ada", "Section A", "24"]
    assert sorted(unmatched) == ["bob", "cy, the third"]


def test_roster_must_be_a_canvas_export(tmp_path: Path):
    bad = tmp_path / "roster.csv"
    bad.write_text("name,score\nada,3\n")
    with pytest.raises(lms.RosterError, match="Student and ID"):
        lms.read_roster(bad)
