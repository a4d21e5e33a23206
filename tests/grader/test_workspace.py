"""grader.workspace: the scratch copy keeps nothing that reaches outside the submission, and planted
clutter never lands outside it, whatever links a submission holds."""

from __future__ import annotations

import os
from pathlib import Path

from grader.workspace import MARKER, plant_markers, prepare


def submission(root: Path) -> Path:
    (root / "starter" / "models").mkdir(parents=True)
    (root / "starter" / "models" / "model.joblib").write_text("model")
    (root / "Dockerfile.mlapp").write_text("FROM python:3.11-slim-bookworm\n")
    return root


def test_symlinks_to_outside_are_dropped_and_said(tmp_path):
    src = submission(tmp_path / "sub")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret").write_text("host secret")
    os.symlink("/etc/passwd", src / ".env")
    os.symlink("/etc", src / "etc-dir")
    os.symlink("../../outside/secret", src / "starter" / "leak")
    os.symlink("leak", src / "starter" / "chain")                       # a link to a link that leaves
    os.symlink("models/model.joblib", src / "starter" / "inside")        # stays: it resolves inside
    os.symlink(str(src / "Dockerfile.mlapp"), src / "absolute-inside")  # rewritten into the copy
    os.symlink("/nonexistent/dangling", src / "dangling")
    said = []
    dest = prepare(submission=src, dest=tmp_path / "copy", on_skip=said.append)
    for gone in (".env", "etc-dir", "starter/leak", "starter/chain", "dangling"):
        assert not os.path.lexists(dest / gone), gone
    assert (dest / "starter" / "inside").read_text() == "model"
    assert os.readlink(dest / "absolute-inside") == "Dockerfile.mlapp"
    assert (dest / "absolute-inside").read_text().startswith("FROM")
    assert sorted(line.split(":")[0] for line in said) == [
        ".env -> /etc/passwd", "dangling -> /nonexistent/dangling", "etc-dir -> /etc",
        "starter/chain -> leak", "starter/leak -> ../../outside/secret"]
    assert all("a symlink to outside the submission, not copied" in line for line in said)


def test_named_pipes_are_not_copied(tmp_path):
    src = submission(tmp_path / "sub")
    os.mkfifo(src / "Dockerfile.mlflow")  # reading it would hang the grader
    said = []
    dest = prepare(submission=src, dest=tmp_path / "copy", on_skip=said.append)
    assert not os.path.lexists(dest / "Dockerfile.mlflow")
    assert said == ["Dockerfile.mlflow: a pipe, socket or device, not copied"]


def test_a_symlink_in_solutions_is_not_laid_over(tmp_path):
    src = submission(tmp_path / "sub")
    (src / "solutions").mkdir()
    (src / "solutions" / "Dockerfile.mlapp").write_text("FROM reference\n")
    os.symlink("/etc/passwd", src / "solutions" / "docker-compose.yml")
    said = []
    dest = prepare(submission=src, dest=tmp_path / "copy", solution=True, on_skip=said.append)
    assert (dest / "Dockerfile.mlapp").read_text() == "FROM reference\n"
    assert not os.path.lexists(dest / "docker-compose.yml")
    assert "solutions/docker-compose.yml: a symlink, not laid over the copy" in said


def test_planting_never_writes_through_a_submissions_links(tmp_path):
    submission, outside = tmp_path / "submission", tmp_path / "outside"
    (submission / "starter").mkdir(parents=True)
    outside.mkdir()
    (submission / "notebooks").symlink_to(outside, target_is_directory=True)
    (submission / "data").symlink_to(outside, target_is_directory=True)
    (submission / "logs").symlink_to(outside / "previous-run.log")
    work = prepare(submission=submission, dest=tmp_path / "copy")
    plant_markers(work)
    assert list(outside.iterdir()) == []
    assert (work / "notebooks" / MARKER).is_file() and not (work / "notebooks").is_symlink()
    assert (work / "data" / "raw" / "customers.csv").is_file()


def test_planting_never_writes_through_a_link_that_stays_inside(tmp_path):
    """A link the copy keeps (it resolves inside the submission) is replaced, not written through."""
    submission = tmp_path / "submission"
    (submission / "starter").mkdir(parents=True)
    (submission / "notebooks").symlink_to("starter", target_is_directory=True)
    work = prepare(submission=submission, dest=tmp_path / "copy")
    assert (work / "notebooks").is_symlink()
    plant_markers(work)
    assert not (work / "notebooks").is_symlink() and (work / "notebooks" / MARKER).is_file()
    assert not (work / "starter" / MARKER).exists()
