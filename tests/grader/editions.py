"""The student edition as an instructor makes it, for the tests that need one (tests/conftest.py's
session fixture `edition`, tests/grader/test_release.py): `make release DEST=...` from this repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOLUTIONS = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "solutions").rglob("*") if p.is_file())


def run(*args, cwd: Path, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a command as from a shell (text output captured); `timeout` in seconds.

    Under `make test` a nested make prints "Entering directory" lines, so make's own variables are
    left out of the environment. Raises subprocess.TimeoutExpired past `timeout`."""
    outer = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**outer, "PYTHONDONTWRITEBYTECODE": "1", **(env or {})})


def make_edition(dest: Path) -> Path:
    """`make release DEST=dest` with this interpreter's venv; return `dest`.

    Raises AssertionError with make's output if the release fails or does not report its leak search."""
    done = run("make", "-s", "release", f"DEST={dest}", f"VENV={Path(sys.executable).parents[1]}", cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no reference content found" in done.stdout
    return dest


def lay_reference(edition: Path, dest: Path) -> Path:
    """A copy of `edition` at `dest` with the reference deliverables (every file under solutions/)
    laid where the student writes them: a finished submission made from the student edition."""
    shutil.copytree(edition, dest, symlinks=True)
    for rel in SOLUTIONS:
        target = dest / Path(rel).relative_to("solutions")
        target.parent.mkdir(parents=True, exist_ok=True)   # solutions/tests/container: the edition has no tests/
        shutil.copy2(REPO / rel, target)
    return dest
