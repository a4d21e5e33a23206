"""The scratch copy a grading run works on: the grader never touches the submission itself."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from grader.constants import DELIVERABLES
from grader.errors import WorkspaceError

log = logging.getLogger(__name__)

# Local state that is not part of a submission: never copied. Directories the labs tell students
# to exclude (.git, venvs, mlruns, ...) get standard marker files instead (grader.tasks.t03),
# so every submission is graded against the same build-context clutter.
SKIPPED = {".git", ".venv", "venv", "env", "node_modules", "__pycache__", ".pytest_cache",
           ".mypy_cache", ".ruff_cache", ".ipynb_checkpoints", ".demo", ".grader", "grader-results",
           "logs", "mlruns", "mlartifacts"}


def _ignore(directory: str, names: list[str]) -> set[str]:
    return {n for n in names if n in SKIPPED or n.endswith(".pyc")}


def looks_like_submission(path: Path) -> bool:
    return path.is_dir() and ((path / "starter").is_dir() or any((path / f).exists() for f in DELIVERABLES))


def prepare(*, submission: Path, dest: Path, solution: bool = False) -> Path:
    """Copy `submission` to `dest`; with `solution`, lay its solutions/ over the copy."""
    submission = submission.resolve()
    if not looks_like_submission(submission):
        raise WorkspaceError(
            f"{submission} does not look like a lab submission: expected a starter/ directory or "
            f"one of {', '.join(DELIVERABLES)} in it. Pass the repository root."
        )
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(submission, dest, symlinks=True, ignore=_ignore)
    if solution:
        overlay = submission / "solutions"
        if not overlay.is_dir():
            raise WorkspaceError(f"--solution: {overlay} does not exist")
        for path in sorted(overlay.rglob("*")):
            rel = path.relative_to(overlay)
            if path.is_file() and rel.name != "README.md":
                target = dest / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
        log.info("laid %s over the copy", overlay)
    return dest
