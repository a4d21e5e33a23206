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
                  "worker_id", "testrun_uid", "edition"}


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


# tryfirst: xdist's worker reads the xdist_group marks in its own pytest_collection_modifyitems, and
# a conftest's hook would otherwise run after it (marks added then are never seen).
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    for item in items:
        # Docker tests need the engine fixture, so a missing engine fails them loudly.
        if item.get_closest_marker("docker") and "docker_client" not in getattr(item, "fixturenames", ()):
            item.fixturenames.append("docker_client")
        group = xdist_group(item)
        if group and not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(group))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Under `--dist loadgroup`, fail a test xdist did not group, before its fixtures are made.

    xdist groups by a suffix its worker writes into each marked item's node id (xdist/remote.py);
    pytest 9.2 derives node ids from structured ids and ignores that write, so grouping silently
    stops (pytest-dev/pytest-xdist#1386) and every worker makes the expensive session fixtures again
    (one more full grade of the reference per worker). requirements-dev.txt pins a pytest that works.

    Raises:
        pytest.fail.Exception: a marked item on a loadgroup worker has no `@group` in its node id.
    """
    config = item.config
    if not (hasattr(config, "workerinput") and config.getvalue("loadgroup")):
        return
    if item.get_closest_marker("xdist_group") and "@" not in item.nodeid.rpartition("]")[2]:
        from importlib.metadata import version

        pytest.fail(f"pytest-xdist --dist loadgroup did not group this test (no @group in its node id): "
                    f"pytest {version('pytest')} with pytest-xdist {version('pytest-xdist')} breaks grouping "
                    "(pytest-dev/pytest-xdist#1386). Install the pinned versions: "
                    "make setup (or .venv/bin/python -m pip install -r requirements-dev.txt)", pytrace=False)


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
def edition(tmp_path_factory) -> Path:
    """The student edition as an instructor makes it: `make release DEST=...` from this repository
    (a few seconds, so made once per xdist worker that needs it: CHEAP_FIXTURES)."""
    from tests.grader.editions import make_edition

    return make_edition(tmp_path_factory.mktemp("release") / "student-edition")


@pytest.fixture(scope="session")
def reference_run(docker_client, edition, tmp_path_factory):
    """One full instructor-mode grade of the reference per session, shared by every test that reads it.

    The reference is laid into the student edition (solutions/ copied over the skeletons the student
    edits), as a student's finished work is made, so the same grade also proves the edition grades
    the reference at full marks (tests/grader/test_release.py; issue 13: one graded reference across
    the suite). Returns (GradeReport, GradeObserver); the observer's `submission` is the graded copy."""
    from grader.options import Options
    from grader.run import grade
    from tests.grader.editions import lay_reference

    observer = GradeObserver(docker_client)
    submission = lay_reference(edition, tmp_path_factory.mktemp("reference-in-edition") / "submission")
    workroot = tmp_path_factory.mktemp("reference-grade")
    report = grade(options=Options(submission=submission, instructor=True, workroot=workroot), on_event=observer)
    observer.workroot, observer.submission = workroot, submission
    return report, observer
