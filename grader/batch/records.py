"""What a batch keeps on disk per student, written so that a `kill -9` at any moment loses nothing.

Layout under the batch's output directory OUT (docs/grading-a-class.md):

    OUT/batch.json                       the batch's options (what a grade depends on)
    OUT/students/<id>/record.json        the gradebook row's source: status, reason, scores, hashes
    OUT/students/<id>/report.json        the grader's JSON report (grader/schema/report-v1.json)
    OUT/students/<id>/feedback.md        Markdown feedback to hand back
    OUT/students/<id>/junit.xml          JUnit XML
    OUT/students/<id>/grader.log         what the grading child printed
    OUT/students/<id>/history/<when>-<run id>/   the previous record and report, one folder per regrade

Every file is written to a temporary name, flushed to disk and renamed over the old one
(`atomic_write`); record.json is written last, so it is the commit point: a batch killed before it
regrades that student, one killed after it has lost nothing.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from grader.reporters.explain import points

log = logging.getLogger(__name__)

RECORD_VERSION = 1
# Statuses of a gradebook row (docs/grading-a-class.md#statuses).
GRADED = "graded"                  # graded (full marks or not)
GRADER_ERROR = "grader-error"      # graded, but a check crashed (status "error"): scores are incomplete
COULD_NOT_GRADE = "could-not-grade"  # the grader refused (exit 2): e.g. no engine, not a submission
TIMEOUT = "timeout"                # stopped after the wall-clock limit
CRASHED = "crashed"                # the grading process died without a usable report
STATUSES = (GRADED, GRADER_ERROR, COULD_NOT_GRADE, TIMEOUT, CRASHED,
            "not-a-submission", "broken-archive", "unsupported", "duplicate")


@dataclass
class Record:
    """One student's gradebook row and where it came from.

    Scores are points (floats); `tasks` and `checks` map task / check ids to points earned (empty
    when nothing was graded). `previous` summarises the record this one replaced ({"score",
    "run_id", "finished_at", "checks"}) and `changes` says what moved, e.g. "2.non-root 0→3".
    """

    student: str
    status: str
    reason: str = ""
    source: str = ""                  # the entry as found in SUBMISSIONS
    content_hash: str | None = None   # sha256 of the entry (archives.content_hash)
    options_hash: str | None = None   # sha256 of the options a grade depends on (runner.options_hash)
    run_id: str | None = None
    exit_code: int | None = None
    score: float | None = None
    max_score: float | None = None
    tasks: dict = field(default_factory=dict)
    checks: dict = field(default_factory=dict)
    started_at: str | None = None     # RFC 3339, UTC
    finished_at: str | None = None
    duration_s: float | None = None
    because: str = "new"              # new | content changed | options changed | forced | retried
    previous: dict | None = None
    changes: str = ""
    version: int = RECORD_VERSION

    @classmethod
    def from_dict(cls, data: dict) -> Record:
        """Rebuild a record from record.json's dict; unknown keys (a newer version) are ignored. TypeError when a field is missing."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def atomic_write(path: Path, data: str | bytes) -> None:
    """Replace `path` with `data` (text is UTF-8) so that readers see the old or the new file, never a part.

    Writes `<path>.tmp-<pid>` in the same directory, fsyncs it, renames it over `path` and fsyncs the
    directory. OSError on failure (the temporary file is removed).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        with open(tmp, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_json(path: Path, data: dict) -> None:
    """atomic_write of `data` as indented UTF-8 JSON."""
    atomic_write(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def student_dir(out: Path, student: str) -> Path:
    """OUT/students/<student>: where everything of one student goes."""
    return out / "students" / student


def load(out: Path, student: str) -> Record | None:
    """The committed record of `student` under `out`, or None (none yet, or unreadable: regrade)."""
    path = student_dir(out, student) / "record.json"
    try:
        return Record.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        log.warning("ignoring unreadable %s: %s", path, exc)
        return None


def load_all(out: Path) -> list[Record]:
    """Every committed record under `out/students`, sorted by student id."""
    root = out / "students"
    if not root.is_dir():
        return []
    found = (load(out, d.name) for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith("."))
    return [r for r in found if r is not None]


def report_path(out: Path, student: str) -> Path:
    """The committed JSON report of `student` (may not exist)."""
    return student_dir(out, student) / "report.json"


def changes(previous: Record | None, record: Record) -> str:
    """What moved between two records, for the gradebook: "first grade", "no change", or per check.

    Example: "total 38→41; 2.non-root 0→3; 6.restart 2→0; status could-not-grade→graded".
    """

    if previous is None:
        return "first grade"
    parts = []
    if previous.status != record.status:
        parts.append(f"status {previous.status}→{record.status}")
    if previous.score != record.score and None not in (previous.score, record.score):
        parts.insert(0, f"total {points(previous.score)}→{points(record.score)}")
    for check_id in sorted(set(previous.checks) | set(record.checks), key=_check_order):
        before, after = previous.checks.get(check_id), record.checks.get(check_id)
        if before != after:
            parts.append(f"{check_id} {_points(before)}→{_points(after)}")
    return "; ".join(parts) or "no change"


def _points(value) -> str:

    return "–" if value is None else points(value)


def _check_order(check_id: str):
    task, _, slug = check_id.partition(".")
    return (int(task) if task.isdigit() else 0, slug)


def commit(out: Path, record: Record, *, files: dict[str, str | bytes], previous: Record | None) -> None:
    """Store a finished grade: keep the previous one in history/, write `files`, then record.json.

    `files` maps names in the student's folder ("report.json", "feedback.md", ...) to contents;
    names not in `files` (e.g. an old report.json when the new run produced none) are removed.
    """
    folder = student_dir(out, record.student)
    folder.mkdir(parents=True, exist_ok=True)
    if previous is not None and previous.finished_at:
        stamp = previous.finished_at.replace(":", "").replace("-", "").replace("+0000", "Z")
        keep = folder / "history" / f"{stamp}-{previous.run_id or 'none'}"
        if not keep.exists():
            tmp = keep.with_name("." + keep.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            for name in ("record.json", "report.json", "feedback.md", "junit.xml", "grader.log"):
                if (folder / name).exists():
                    shutil.copy2(folder / name, tmp / name)
            os.replace(tmp, keep)
    for name in ("report.json", "feedback.md", "junit.xml", "grader.log"):
        if name not in files:
            (folder / name).unlink(missing_ok=True)
    for name, content in files.items():
        atomic_write(folder / name, content)
    write_json(folder / "record.json", asdict(record))


def history(out: Path, student: str) -> list[Record]:
    """The earlier records of `student`, oldest first."""
    root = student_dir(out, student) / "history"
    found = []
    for folder in sorted(root.iterdir()) if root.is_dir() else ():
        try:
            found.append(Record.from_dict(json.loads((folder / "record.json").read_text(encoding="utf-8"))))
        except (OSError, ValueError, TypeError):
            continue
    return found
