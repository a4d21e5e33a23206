"""Shared fixtures: the Docker engine (required, never skipped) and scratch submissions."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def docker_client():
    """A Docker SDK client. No engine is a failure, not a skip: these tests claim Docker behaviour."""
    from grader import engine

    try:
        return engine.client()
    except engine.EngineUnavailable as exc:
        pytest.fail(f"{exc.message}\n(details: {exc.details})", pytrace=False)


@pytest.fixture
def submission(tmp_path: Path) -> Path:
    """A scratch copy of this repository (the skeleton submission), safe to edit."""
    from grader.workspace import prepare

    return prepare(submission=REPO, dest=tmp_path / "submission")


@pytest.fixture
def reference(tmp_path: Path) -> Path:
    """A scratch copy of the reference submission (root with solutions/ laid over it)."""
    from grader.workspace import prepare

    return prepare(submission=REPO, dest=tmp_path / "reference", solution=True)


def pytest_collection_modifyitems(items):
    # Docker tests need the engine fixture, so a missing engine fails them loudly.
    for item in items:
        if item.get_closest_marker("docker") and "docker_client" not in getattr(item, "fixturenames", ()):
            item.fixturenames.append("docker_client")


@pytest.fixture(scope="session")
def hadolint() -> str:
    beside = Path(sys.executable).with_name("hadolint")  # the venv's, when it is not activated
    path = shutil.which("hadolint") or (str(beside) if beside.is_file() else None)
    if not path:
        pytest.fail("hadolint is not on PATH: run `make setup`", pytrace=False)
    return path
