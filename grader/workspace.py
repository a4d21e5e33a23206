"""The scratch copy a grading run works on: the grader never touches the submission itself."""

from __future__ import annotations

import logging
import os
import shutil
import stat
from collections.abc import Callable
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
    return {n for n in names if n in SKIPPED or n.endswith(".pyc") or _special(os.path.join(directory, n))}


def _special(path: str) -> bool:
    """A named pipe, socket or device: reading it could hang or reach the host; never copied."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode))


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def confine_symlinks(dest: Path, *, original: Path) -> list[str]:
    """Keep only symlinks of the copy that resolve inside it; the others are removed.

    A link to an absolute path inside the original submission is rewritten to the same file in the
    copy. Anything else pointing outside (`/etc/passwd`, `../../secrets`, a chain of links that
    ends outside) would carry a host file into a build context, a bind mount, an env file or a
    report: it is removed, and the list says which (`path -> target`, relative to the copy).
    """
    root, source_root = os.path.realpath(dest), os.path.realpath(original)
    removed = []
    links = [Path(d) / n for d, dirs, files in os.walk(dest) for n in dirs + files if (Path(d) / n).is_symlink()]
    for link in links:
        target = os.readlink(link)
        if os.path.isabs(target) and _inside(os.path.realpath(target), source_root):
            inside = os.path.join(root, os.path.relpath(os.path.realpath(target), source_root))
            link.unlink()
            link.symlink_to(os.path.relpath(inside, os.path.realpath(link.parent)))
    leaving = [link for link in links if not _inside(os.path.realpath(link), root)]  # before any removal
    for link in leaving:
        removed.append(f"{link.relative_to(dest)} -> {os.readlink(link)}")
        link.unlink()
    return sorted(removed)


def looks_like_submission(path: Path) -> bool:
    return path.is_dir() and ((path / "starter").is_dir() or any((path / f).exists() for f in DELIVERABLES))


def prepare(*, submission: Path, dest: Path, solution: bool = False,
            on_skip: Callable[[str], None] | None = None) -> Path:
    """Copy `submission` to `dest`; with `solution`, lay its solutions/ over the copy.

    Symlinks that resolve outside the copy, named pipes, sockets and devices are not copied;
    `on_skip` receives one line for each (grader.run makes it a warning in the report).
    Raises WorkspaceError when `submission` is not a lab submission.
    """
    submission = submission.resolve()
    if not looks_like_submission(submission):
        raise WorkspaceError(
            f"{submission} does not look like a lab submission: expected a starter/ directory or "
            f"one of {', '.join(DELIVERABLES)} in it. Pass the repository root."
        )
    if dest.exists():
        shutil.rmtree(dest)
    skipped: list[str] = []

    def ignore(directory: str, names: list[str]) -> set[str]:
        found = _ignore(directory, names)
        skipped.extend(f"{Path(directory, n).relative_to(submission)}: a pipe, socket or device, not copied"
                       for n in sorted(found) if _special(os.path.join(directory, n)))
        return found

    shutil.copytree(submission, dest, symlinks=True, ignore=ignore)
    skipped += [f"{line}: a symlink to outside the submission, not copied (it would bring a host file "
                "into the image or the report)" for line in confine_symlinks(dest, original=submission)]
    if solution:
        overlay = submission / "solutions"
        if not overlay.is_dir():
            raise WorkspaceError(f"--solution: {overlay} does not exist")
        for path in sorted(overlay.rglob("*")):
            rel = path.relative_to(overlay)
            if path.is_symlink():  # copy2 would copy what it points at, wherever that is
                skipped.append(f"solutions/{rel}: a symlink, not laid over the copy")
                continue
            if path.is_file() and rel.name != "README.md":
                target = dest / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
        log.info("laid %s over the copy", overlay)
    for line in skipped:
        log.warning("%s", line)
        if on_skip is not None:
            on_skip(line)
    return dest


# -- planted clutter ---------------------------------------------------------------------------
MARKER = "mlops-grader-marker"
CSV_ROWS = 120_000  # about 3.8 MB: a context that ships data/raw is plainly too big
# Files planted in every scratch copy: (category, path, content). Deterministic content.
PLANTED = (
    (".git", ".git/HEAD", "ref: refs/heads/main\n"),
    (".git", ".git/config", "[core]\n\trepositoryformatversion = 0\n"),
    (".venv", ".venv/pyvenv.cfg", "home = /usr/bin\nversion = 3.11.2\n"),
    ("venv", "venv/pyvenv.cfg", "home = /usr/bin\nversion = 3.11.2\n"),
    ("__pycache__", "__pycache__/x.pyc", "not real bytecode: planted by the grader\n"),
    (".pytest_cache", ".pytest_cache/v/cache/nodeids", "[]\n"),
    ("notebooks", "notebooks/README.md", "planted by the grader\n"),
    ("tests", "tests/README.md", "planted by the grader\n"),
    ("mlruns", "mlruns/0/meta.yaml", "name: Default\n"),
    ("logs", "logs/previous-run.log", '{"message": "planted by the grader"}\n'),
)
MARKED_DIRS = (".git", ".venv", "venv", "__pycache__", ".pytest_cache", "notebooks", "tests", "data/raw",
               "mlruns", "logs")


def _customers_csv() -> bytes:
    """A fixed, deterministic customers.csv of CSV_ROWS rows (about 3.8 MB)."""
    rows = ["customer_id,tenure_months,monthly_charges,contract,support_calls,churned"]
    state = 12345
    for i in range(CSV_ROWS):
        state = (state * 1103515245 + 12345) % 2**31  # a fixed LCG: same bytes every run
        rows.append(f"C{i:06d},{state % 72},{20 + state % 9000 / 100:.2f},"
                    f"{('month-to-month', 'one-year', 'two-year')[state % 3]},{state % 7},{state % 2}")
    return ("\n".join(rows) + "\n").encode()


def _no_symlinks_on_the_way(workdir: Path, rel: str) -> None:
    """Remove symbolic links among the folders of `rel` under `workdir`: a submission's link (say
    `notebooks -> /etc`) must never make the grader write outside its scratch copy."""
    path = workdir
    for part in Path(rel).parts:
        path = path / part
        if path.is_symlink():
            path.unlink()


def plant_markers(workdir: Path) -> None:
    """Plant the same clutter in every scratch copy, so build contexts compare between submissions.

    Never writes through a symbolic link of the submission (it is replaced by a real folder)."""
    for rel in [r for _, r, _ in PLANTED] + [f"{d}/{MARKER}" for d in MARKED_DIRS] + ["data/raw/customers.csv"]:
        _no_symlinks_on_the_way(workdir, rel)
    for _, rel, content in PLANTED:
        path = workdir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    raw = workdir / "data" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    (raw / "customers.csv").write_bytes(_customers_csv())
    for rel in MARKED_DIRS:
        (workdir / rel / MARKER).write_text(f"planted by the grader in {rel}/\n", encoding="utf-8")
