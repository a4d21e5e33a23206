"""The project's own code stays lint-clean (ruff, configured in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing():
    ruff = Path(sys.executable).with_name("ruff")
    result = subprocess.run([str(ruff), "check", "grader", "starter", "tests", "scripts", "benchmarks"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_layers_and_no_cycles():
    """The grader's import contracts (pyproject.toml [tool.importlinter]) hold, function-level imports included."""
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_every_task_module_is_in_the_independence_contract():
    import tomllib

    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    listed = next(set(c["modules"]) for c in contracts if c["type"] == "independence")
    modules = {f"grader.tasks.{p.stem}" for p in (REPO / "grader" / "tasks").glob("t[0-9]*.py")}
    assert modules == listed
