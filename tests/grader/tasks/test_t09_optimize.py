"""Task 9 checks: multi-stage (static), compiler names, size arithmetic, hadolint, reference and variant."""

from __future__ import annotations

import re

import pytest

from grader.parse.dockerfiles import DockerfileModel
from grader.tasks import t09_optimize as t09
from tests.grader.dockerkit import variant_run


class Ctx:
    def __init__(self, scratch=None, workdir=None):
        self.scratch, self.workdir = scratch, workdir


@pytest.mark.parametrize(("text", "passed", "fragment"), [
    ("FROM p:1 AS builder\nRUN make\nFROM p:1\nCOPY --from=builder /opt/venv /opt/venv\n", True,
     "line 4: `COPY --from=builder /opt/venv /opt/venv` copies from stage 0 (builder)"),
    ("FROM p:1\nRUN make\nFROM p:1\nCOPY --from=0 /x /x\n", True, "copies from stage 0"),
    ("FROM p:1\n", False, "line 1: `FROM p:1`"),
    ("FROM p:1 AS a\nFROM p:1\nCOPY --from=python:3.12 /x /x\n", False, "no COPY --from=<earlier stage>"),
    ("FROM p:1 AS a\nRUN make\nFROM a\n", False, "no COPY --from=<earlier stage>"),
])
def test_multi_stage(text, passed, fragment):
    outcome = t09.multi_stage(DockerfileModel.from_text(text, name="Dockerfile.mlapp"))
    assert outcome.passed is passed
    assert fragment in (outcome.message if passed else outcome.found)


def test_compiler_names():
    pattern = re.compile(t09.COMPILER_NAMES)
    for name in ("gcc", "x86_64-linux-gnu-gcc-12", "g++", "c++", "cc", "clang-16", "make", "ld", "gfortran"):
        assert pattern.match(name), name
    for name in ("ldd", "python3", "gcc-ar", "make-first-existing-target", "pip", "ccache", "assert"):
        assert not pattern.match(name), name


def test_size_outcome_is_added_bytes():
    outcome = t09.size_outcome(image_size=395_000_000, base="python:3.11-slim-bookworm", base_size=153_000_000)
    assert outcome.passed
    assert outcome.message == ("adds 242 MB over python:3.11-slim-bookworm (153 MB), within the budget of 400 MB "
                               "added; the image is 395 MB in all")
    too_big = t09.size_outcome(image_size=1_000_000_000, base="b:1", base_size=100_000_000)
    assert not too_big.passed and too_big.found.startswith("adds 900 MB over b:1")


def test_hadolint_scores_warnings_not_style(tmp_path, repo):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    (work / "Dockerfile.mlapp").write_text((repo / "solutions" / "Dockerfile.mlapp").read_text())
    (work / "Dockerfile.mlflow").write_text(
        "FROM python:3.11-slim-bookworm\n# hadolint ignore=DL3013\nRUN pip install mlflow\nRUN echo a\n"
        "CMD mlflow server\n")
    (work / ".hadolint.yaml").write_text("ignored: [DL3013, DL3042, DL3025]\n")  # a submission's config is ignored
    outcome = t09.hadolint(Ctx(scratch=scratch, workdir=work), mlapp_dockerfile=None, mlflow_dockerfile=None)
    assert not outcome.passed
    assert "Dockerfile.mlflow:3 DL3013" in outcome.found and "Dockerfile.mlflow:5 DL3025" in outcome.found
    assert "DL3059" not in outcome.found and "DL3059" in outcome.details  # info: listed, free
    assert (outcome.partial, outcome.measure) == ("findings", 3)  # DL3013, DL3042, DL3025
    (work / "Dockerfile.mlflow").write_text((repo / "solutions" / "Dockerfile.mlflow").read_text())
    assert t09.hadolint(Ctx(scratch=scratch, workdir=work), mlapp_dockerfile=None, mlflow_dockerfile=None).passed


@pytest.mark.docker
def test_reference_scores_full_marks_on_task_9(reference_run):
    results = {c.id: c for c in reference_run[0].checks if c.task_id == "9"}
    assert {i: (c.status, c.message) for i, c in results.items() if not c.passed} == {}
    assert re.match(r"adds \d+ MB over python:3\.11-slim-bookworm", results["9.size-budget"].message)


@pytest.mark.docker
def test_fake_compiler_and_single_copy_variant():
    r = variant_run("clutter").results
    assert r["9.no-compiler"].found == "/usr/local/bin/gcc"
    assert "no COPY --from=<earlier stage> in the final stage" in r["9.multi-stage"].found
    assert r["9.size-budget"].passed  # adds little: the check measures bytes over the base image


def test_hadolint_binary_is_found_without_an_activated_venv():
    assert t09.find_hadolint() is not None  # on PATH, or next to this Python (an unactivated venv)
