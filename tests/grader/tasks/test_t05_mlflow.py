"""Task 5 checks: pins (static), MLflow's store locations (pure), the reference and a loopback variant."""

from __future__ import annotations

import pytest

from grader.parse.dockerfiles import DockerfileModel
from grader.tasks import t05_mlflow as t05
from tests.grader.dockerkit import leftovers, run_checks


def _pins(tmp_path, text: str, files: dict[str, str] | None = None):
    for rel, content in (files or {}).items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(content)
    return t05.mlflow_pins(tmp_path, DockerfileModel.from_text(text))


def test_direct_pin_and_arg_version(tmp_path):
    pinned, loose = _pins(tmp_path, "FROM p:1\nRUN pip install --no-cache-dir 'mlflow==3.17.2' boto3\n")
    assert pinned == ["line 2: `mlflow==3.17.2`"] and loose == []
    pinned, _ = _pins(tmp_path, "FROM p:1\nARG V=3.17.2\nRUN python -m pip install mlflow[extras]==${V}\n")
    assert pinned == ["line 3: `mlflow[extras]==3.17.2`"]


def test_unpinned_and_skinny_are_not_pins(tmp_path):
    pinned, loose = _pins(tmp_path, "FROM p:1\nRUN pip install mlflow>=3 && pip install mlflow-skinny==3.17.2\n")
    assert pinned == [] and loose == ["line 2: `mlflow>=3`"]
    pinned, loose = _pins(tmp_path, "FROM p:1\nRUN apt-get install -y mlflow\n")
    assert (pinned, loose) == ([], [])


def test_requirements_file_found_through_copy(tmp_path):
    files = {"starter/requirements-mlflow.txt": "alembic==1.2\nmlflow==3.17.2  # the server\n"}
    text = ("FROM p:1\nWORKDIR /srv\nCOPY starter/requirements-mlflow.txt ./\n"
            "RUN pip install --no-cache-dir --requirement=requirements-mlflow.txt\n")
    pinned, loose = _pins(tmp_path, text, files)
    assert pinned == ["starter/requirements-mlflow.txt (installed at line 4): `mlflow==3.17.2`"] and loose == []
    # a directory COPY works too
    pinned, _ = _pins(tmp_path, "FROM p:1\nCOPY starter /starter\nRUN pip install -r /starter/requirements-mlflow.txt\n")
    assert len(pinned) == 1


def test_pinned_check_partial_credit(tmp_path):
    class Ctx:
        workdir = tmp_path

    outcome = t05.pinned(Ctx(), DockerfileModel.from_text("FROM python\nRUN pip install mlflow==3.17.2\n"))
    assert not outcome.passed and outcome.partial == "one-half" and "`FROM python` has no tag" in outcome.found


def test_server_process_is_the_parent_with_the_options():
    processes = [{"pid": 1, "argv": ["/bin/sh", "-c", "sleep 1"]},
                 {"pid": 7, "argv": ["/opt/venv/bin/python", "/opt/venv/bin/mlflow", "server", "--port", "5000"]},
                 {"pid": 9, "argv": ["/opt/venv/bin/python", "-m", "uvicorn", "mlflow.server.fastapi_app:app"]}]
    assert t05.server_process(processes)["pid"] == 7


def test_store_outcome_needs_named_volumes():
    proc = {"argv": ["mlflow", "server", "--backend-store-uri", "sqlite:////mlflow/db/mlflow.db",
                     "--artifacts-destination", "/mlflow/artifacts"], "env": {}, "cwd": "/mlflow"}
    named = {"Type": "volume", "Name": "proj_mlflow-data", "Destination": "/mlflow"}
    anonymous = {"Type": "volume", "Name": "a" * 64, "Destination": "/mlflow"}
    bind = {"Type": "bind", "Source": "/home/x", "Destination": "/mlflow"}
    assert t05.store_outcome(proc, [named]).passed
    for mounts in ([anonymous], [bind], []):
        outcome = t05.store_outcome(proc, mounts)
        assert not outcome.passed and "is on no named volume" in outcome.found
    default = {"argv": ["mlflow", "server"], "env": {}, "cwd": "/home/app"}
    outcome = t05.store_outcome(default, [named])
    assert "`sqlite:///mlflow.db` -> /home/app/mlflow.db (working dir /home/app)" in outcome.found


@pytest.mark.docker
def test_reference_scores_full_marks_on_task_5(reference_run):
    results = {c.id: c for c in reference_run[0].checks if c.task_id == "5"}
    assert len(results) == 6
    assert {i: (c.status, c.message) for i, c in results.items() if not c.passed} == {}
    assert "backend store /mlflow/db/mlflow.db on volume" in results["5.store-on-volume"].message
    assert "mlflow==3.17.2" in results["5.pinned"].message


@pytest.mark.docker
def test_mlflow_on_loopback_fails_binds_all(repo, docker_client):
    text = (repo / "solutions" / "Dockerfile.mlflow").read_text().replace('"--host", "0.0.0.0"', '"--host", "127.0.0.1"')
    assert '"127.0.0.1"' in text
    run = run_checks({"Dockerfile.mlflow": text}, ("5.builds", "5.binds-all", "5.non-root"), ready=180)
    r = run.results
    assert r["5.builds"].passed and r["5.non-root"].passed
    assert r["5.binds-all"].found == "listens on 127.0.0.1:5000"
    assert run.cleanup_problems == [] and leftovers(docker_client, run.run_id) == []
