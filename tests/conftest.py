"""Shared fixtures: the Docker engine (required, never skipped) and scratch submissions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Lab 10's container tests (the student's, tests/container/) need the running container `lab10-api`:
# the kit's own suite never collects them, unless they are named (`pytest tests/container`, as Lab 10
# runs them). The grader runs them in its sandbox (task 10).
CONTAINER_TESTS = Path(__file__).resolve().parent / "container"


def pytest_ignore_collect(collection_path, config):
    if collection_path != CONTAINER_TESTS:
        return None
    named = [Path(arg.split("::")[0]).resolve() for arg in config.args]
    return True if not any(p == CONTAINER_TESTS or CONTAINER_TESTS in p.parents for p in named) else None


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def docker_client():
    """A Docker SDK client. No engine is a failure, not a skip: these tests claim Docker behaviour."""
    from grader.docker import engine
    from grader.errors import EngineUnavailable

    try:
        return engine.client()
    except EngineUnavailable as exc:
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


# Session and module fixtures that cost little to make once per xdist worker (a scratch copy).
CHEAP_FIXTURES = {"repo", "docker_client", "hadolint", "sample_record", "tmp_path_factory", "reference_copy",
                  "worker_id", "testrun_uid"}


def xdist_group(item) -> str | None:
    """The group an item shares a worker with under `pytest -n N --dist loadgroup` (make test):
    tests of an expensive session fixture (one graded reference, one reference stack) run on one
    worker, so it is made once; tests of a module with module-scoped fixtures or a per-process cache
    (tests/grader/dockerkit.py variant_run) stay together. Everything else spreads freely."""
    info = getattr(item, "_fixtureinfo", None)
    for name in getattr(item, "fixturenames", ()):
        defs = info.name2fixturedefs.get(name) if info else None
        if not defs:
            continue
        scope = defs[-1].scope
        if name in CHEAP_FIXTURES:
            continue
        if scope == "session":
            return name
        if scope in ("module", "package", "class"):
            return item.module.__name__
    if "variant_run" in getattr(item.module, "__dict__", {}):
        return item.module.__name__
    return None


def pytest_collection_modifyitems(items):
    for item in items:
        # Docker tests need the engine fixture, so a missing engine fails them loudly.
        if item.get_closest_marker("docker") and "docker_client" not in getattr(item, "fixturenames", ()):
            item.fixturenames.append("docker_client")
        group = xdist_group(item)
        if group and not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session")
def hadolint() -> str:
    from grader.tools import find_hadolint

    path = find_hadolint()
    if not path:
        pytest.fail("hadolint is not on PATH: run `make setup`", pytrace=False)
    return path


class GradeObserver:
    """Looks at the engine while the grader runs: the stack as it is, not as the code says."""

    def __init__(self, docker_client):
        self.docker = docker_client
        self.project: str | None = None
        self.snapshot: dict = {}
        self.events: list[tuple[str, str]] = []

    def __call__(self, kind: str, text: str) -> None:
        self.events.append((kind, text))
        match = re.match(r"(mlops-grader-(\w+)-stack): .* up in ", text)
        if kind == "stack" and match and not self.snapshot:
            self.project, run_id = match.group(1), match.group(2)
            selector = {"label": f"com.docker.compose.project={self.project}"}
            self.snapshot = {
                "run_id": run_id,
                "containers": [c.attrs for c in self.docker.containers.list(all=True, filters=selector)],
                "networks": [n.attrs for n in self.docker.networks.list(filters=selector)],
                "volumes": [v.attrs for v in self.docker.volumes.list(filters=selector)],
            }


@pytest.fixture(scope="session")
def reference_run(docker_client, tmp_path_factory):
    """One full instructor-mode grade of the reference per session, shared by every test that reads it."""
    from grader.options import Options
    from grader.run import grade

    observer = GradeObserver(docker_client)
    workroot = tmp_path_factory.mktemp("reference-grade")
    report = grade(options=Options(submission=REPO, solution=True, instructor=True, workroot=workroot),
                   on_event=observer)
    observer.workroot = workroot
    return report, observer
