"""A class of submissions built from the reference and the broken-submission corpus.

Used by the batch tests (tests/grader/batch/test_batch_engine.py) and the benchmark
(benchmarks/batch.py). Every student is the reference submission (solutions/ laid over the
repository) with one corpus overlay applied, delivered as a folder, a .zip wrapped in a top folder
(as GitHub's "Download ZIP" makes it) or a .tar.gz; beside them, entries that cannot be graded.
"""

from __future__ import annotations

import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from grader.rubric import load
from grader.workspace import prepare
from tests.grader.overlays import Overlay

REPO = Path(__file__).resolve().parents[3]

# (student id, overlay name or None for the reference, delivery)
STUDENTS = (
    ("ada", None, "folder"),
    ("babbage", None, "zip"),            # wrapped in babbage-docker-for-mlops-main/
    ("curie", None, "tar"),
    ("dijkstra", "no-custom-network", "folder"),
    ("euler", "no-restart-policy", "folder"),
    ("fermi", "depends-without-health", "zip"),
    ("gauss", "wrong-tracking-uri", "folder"),
    ("hopper", "no-named-volume", "folder"),
    ("ito", "logs-not-mounted", "tar"),
    ("jacobi", "git-in-image", "folder"),
    ("knuth", "no-dockerignore", "folder"),
    ("lovelace", "names-differ", "folder"),
    ("meitner", "root-user", "folder"),
)
# Entries that never reach the grader, with their gradebook status.
UNGRADABLE = {
    "noether": "broken-archive",      # noether.zip: not a zip at all
    "ostrom": "broken-archive",       # ostrom.zip: a member escapes with ../
    "pauli.txt": "unsupported",       # not a folder or an archive: the id is the whole name
    "quine": "not-a-submission",      # quine/: a folder with only a README
}


@dataclass(frozen=True)
class Expected:
    status: str
    fails: frozenset[str] = frozenset()   # failing check ids within the graded selection


def _reference(dest: Path) -> Path:
    return prepare(submission=REPO, dest=dest, solution=True)


def _zip(source: Path, archive: Path, *, top: str | None) -> None:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(source.rglob("*")):
            rel = path.relative_to(source).as_posix()
            name = f"{top}/{rel}" if top else rel
            if path.is_symlink():
                continue
            zf.write(path, name)


def _tar(source: Path, archive: Path) -> None:
    with tarfile.open(archive, "w:gz") as tf:
        for path in sorted(source.iterdir()):
            tf.add(path, arcname=path.name)


def make_class(dest: Path, *, task_ids=(), instructor: bool = True, scratch: Path | None = None) -> dict[str, Expected]:
    """Write the class into `dest` (created) and return {student id: Expected} for the selection."""
    dest.mkdir(parents=True)
    scratch = scratch or dest.with_name(dest.name + "-build")
    selected = {c.id for c in load().select(task_ids=task_ids or None, instructor=instructor)}
    expected: dict[str, Expected] = {}
    for student, overlay_name, delivery in STUDENTS:
        work = scratch / student
        _reference(work)
        fails: frozenset[str] = frozenset()
        if overlay_name:
            overlay = Overlay.named(overlay_name)
            overlay.apply(work)
            fails = overlay.fails & selected
        if delivery == "folder":
            work.rename(dest / student)
        elif delivery == "zip":
            _zip(work, dest / f"{student}.zip", top=f"{student}-docker-for-mlops-main")
        else:
            _tar(work, dest / f"{student}.tar.gz")
        expected[student] = Expected("graded", fails)
    (dest / "noether.zip").write_bytes(b"PK\x03\x04 this is not really a zip archive")
    with zipfile.ZipFile(dest / "ostrom.zip", "w") as zf:
        zf.writestr("submission/Dockerfile.mlapp", "FROM python:3.11-slim-bookworm\n")
        zf.writestr("../../escaped.txt", "outside")
    (dest / "pauli.txt").write_text("my submission is on a USB stick\n")
    (dest / "quine").mkdir()
    (dest / "quine" / "README.md").write_text("# nothing here\n")
    expected.update({student: Expected(status) for student, status in UNGRADABLE.items()})
    return expected
