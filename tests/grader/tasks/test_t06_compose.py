"""Task 6 checks, static: the reference and a differently named submission pass; mistakes are explained."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.docker.compose import load
from grader.registry import get
from tests.grader.docker.test_compose import ALT_COMPOSE, MLFLOW_DOCKERFILE, REPO, write

STATIC = ("6.valid", "6.network", "6.named-volume", "6.log-bind", "6.tracking-uri", "6.depends-healthy",
          "6.restart", "8.tagged")  # 8.tagged is static on the compose file too


def run(check_id: str, workdir: Path):
    return get(check_id).func(compose=load(workdir))


def alt(tmp_path: Path, *replacements: tuple[str, str]) -> Path:
    text = ALT_COMPOSE
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    return write(tmp_path, {"docker-compose.yml": text, "docker/Dockerfile.mlflow": MLFLOW_DOCKERFILE,
                            "Dockerfile.mlapp": "FROM python:3.11-slim-bookworm\n"})


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    from grader.workspace import prepare

    return prepare(submission=REPO, dest=tmp_path_factory.mktemp("ref") / "sub", solution=True)


@pytest.mark.parametrize("check_id", STATIC)
def test_reference_passes(reference, check_id):
    outcome = run(check_id, reference)
    assert outcome.passed, outcome


@pytest.mark.parametrize("check_id", STATIC)
def test_differently_named_submission_passes(tmp_path, check_id):
    outcome = run(check_id, alt(tmp_path))
    assert outcome.passed, outcome


def test_passing_messages_say_why(tmp_path):
    root = alt(tmp_path)
    assert run("6.tracking-uri", root).message == \
        "MLFLOW_TRACKING_URI=http://tracking:8080 reaches `tracking`, which listens on port 8080"
    assert "./api-logs is bind-mounted at /var/log/api and LOG_DIR=/var/log/api" in run("6.log-bind", root).message
    assert "`backend`" in run("6.network", root).message


@pytest.mark.parametrize(("uri", "message"), [
    ("http://localhost:8080", "inside the API container that is the API container itself"),
    ("http://127.0.0.1:8080", "inside the API container that is the API container itself"),
    ("http://tracking:5000", "uses port 5000, but MLflow listens on 8080"),
    ("http://tracking", "uses port 80 (no port in the URL means 80), but MLflow listens on 8080"),
    ("http://mlflow:8080", "the host `mlflow` in MLFLOW_TRACKING_URI does not reach the MLflow service `tracking`"),
    ("tracking:8080", "not an http:// URL"),
])
def test_tracking_uri_mistakes(tmp_path, uri, message):
    outcome = run("6.tracking-uri", alt(tmp_path, ("http://tracking:8080", uri)))
    assert not outcome.passed
    assert message in outcome.message
    assert outcome.found.startswith(uri)
    assert outcome.expected == "MLFLOW_TRACKING_URI=http://tracking:8080 in the environment of `api`"


def test_tracking_uri_by_alias_passes(tmp_path):
    assert run("6.tracking-uri", alt(tmp_path, ("http://tracking:8080", "http://mlflow-server:8080"))).passed


def test_default_network_only(tmp_path):
    root = alt(tmp_path, ("    networks:\n      backend: {aliases: [mlflow-server]}\n", ""),
               ("    networks: [backend]\n    depends_on", "    depends_on"))
    outcome = run("6.network", root)
    assert not outcome.passed
    assert "`api`: only compose's default network" in outcome.found


def test_store_outside_the_named_volume_is_half(tmp_path):
    outcome = run("6.named-volume", alt(tmp_path, ("sqlite:////data/store/mlflow.db", "sqlite:////srv/mlflow.db")))
    assert (outcome.passed, outcome.partial) == (False, "one-store")
    assert outcome.found == "backend store in /srv/mlflow.db"


def test_no_named_volume(tmp_path):
    outcome = run("6.named-volume", alt(tmp_path, ("volumes: [tracking-store:/data]", "volumes: [./data:/data]")))
    assert not outcome.passed and "bind" in outcome.found


def test_log_dir_not_in_the_bind(tmp_path):
    outcome = run("6.log-bind", alt(tmp_path, ("LOG_DIR: /var/log/api", "LOG_DIR: /tmp/logs")))
    assert (outcome.passed, outcome.partial, outcome.found) == (False, "no-log-dir", "LOG_DIR=/tmp/logs")


def test_depends_on_without_health_is_the_fault_itself(tmp_path):
    outcome = run("6.depends-healthy", alt(tmp_path, ("condition: service_healthy", "condition: service_started")))
    assert (outcome.passed, outcome.partial) == (False, None)  # issue 9: no credit for the fault the check exists for


def test_restart_on_one_service_only(tmp_path):
    outcome = run("6.restart", alt(tmp_path, ("    restart: on-failure\n", "")))
    assert (outcome.passed, outcome.partial) == (False, "one-service")
    assert "`api`: no restart policy" in outcome.found
