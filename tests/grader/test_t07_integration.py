"""Task 7 (and the live checks of tasks 4 and 8) graded end to end on real stacks."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from grader.context import LABEL_RUN, Options
from grader.results import ERROR, PASSED
from grader.run import grade
from grader.tasks.t07_integration import explain_unreachable
from grader.workspace import prepare

REPO = Path(__file__).resolve().parents[2]
MINE = ("4.", "6.", "7.", "8.")
# The lab's stack with every name changed, and MLflow allow-listing only the reference's names.
ALT_COMPOSE = textwrap.dedent("""\
    services:
      tracking:
        build: {context: ., dockerfile: Dockerfile.mlflow}
        command: ["mlflow", "server", "--host", "0.0.0.0", "--port", "8080",
                  "--backend-store-uri", "sqlite:////mlflow/db/mlflow.db",
                  "--artifacts-destination", "/mlflow/artifacts", "--serve-artifacts",
                  "--allowed-hosts", "mlflow,mlflow:5000,localhost,localhost:8080", "--workers", "1"]
        healthcheck:
          test: ["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=4)"]
          interval: 3s
          timeout: 5s
          start_period: 90s
          retries: 5
        restart: unless-stopped
        volumes: [store:/mlflow]
        networks: [backend]
      api:
        build: {context: ., dockerfile: Dockerfile.mlapp}
        image: acme/churn-service:2.1.0
        restart: unless-stopped
        environment:
          MLFLOW_TRACKING_URI: http://tracking:8080
          LOG_DIR: /var/log/api
        volumes: ["./api-logs:/var/log/api"]
        networks: [backend]
        depends_on: {tracking: {condition: service_healthy}}
    networks: {backend: {}}
    volumes: {store: {}}
""")


class Observer:
    """Looks at the engine while the grader runs: the stack as it is, not as the code says."""

    def __init__(self, docker_client):
        self.docker = docker_client
        self.project: str | None = None
        self.snapshot: dict = {}
        self.events: list[tuple[str, str]] = []

    def __call__(self, kind: str, text: str) -> None:
        self.events.append((kind, text))
        match = re.match(r"(mlops-grader-(\w+)-stack): both services healthy", text)
        if kind == "stack" and match and not self.snapshot:
            self.project, run_id = match.group(1), match.group(2)
            selector = {"label": f"com.docker.compose.project={self.project}"}
            self.snapshot = {
                "run_id": run_id,
                "containers": [c.attrs for c in self.docker.containers.list(all=True, filters=selector)],
                "networks": [n.attrs for n in self.docker.networks.list(filters=selector)],
                "volumes": [v.attrs for v in self.docker.volumes.list(filters=selector)],
            }


def leftovers(docker_client, run_id: str) -> list[str]:
    selector = {"label": f"{LABEL_RUN}={run_id}"}
    return ([c.name for c in docker_client.containers.list(all=True, filters=selector)]
            + [n.name for n in docker_client.networks.list(filters=selector)]
            + [v.name for v in docker_client.volumes.list(filters=selector)]
            + [str(i.tags or i.id) for i in docker_client.images.list(filters=selector)])


@pytest.fixture(scope="module")
def reference_run(docker_client):
    observer = Observer(docker_client)
    report = grade(options=Options(submission=REPO, solution=True, task_ids=("4", "6", "7", "8"), instructor=True),
                   on_event=observer)
    return report, observer


@pytest.mark.docker
def test_reference_gets_full_marks_on_tasks_4_6_7_8(reference_run):
    report, _ = reference_run
    mine = [c for c in report.checks if c.id.startswith(MINE)]
    assert {c.id for c in mine} >= {"7.stack-healthy", "7.api-reaches-mlflow", "7.logged-visible", "7.persists",
                                    "7.survives-outage", "4.structured-log", "4.log-file", "8.push-pull"}
    failed = [(c.id, c.status, c.message, c.found) for c in mine if c.status != PASSED]
    assert failed == []
    assert report.errors == ()


@pytest.mark.docker
def test_the_stack_ran_isolated(reference_run):
    _, observer = reference_run
    snap = observer.snapshot
    assert snap, "the stack never reported healthy"
    assert {c["Config"]["Labels"]["com.docker.compose.service"] for c in snap["containers"]} == {"mlapp", "mlflow"}
    for attrs in snap["containers"]:
        assert attrs["Config"]["Labels"][LABEL_RUN] == snap["run_id"]
        assert not attrs["HostConfig"].get("PortBindings"), "no host ports are published"
    assert [n["Name"] for n in snap["networks"]] == [f"mlops-grader-{snap['run_id']}-net-mlops"]
    assert [v["Name"] for v in snap["volumes"]] == [f"mlops-grader-{snap['run_id']}-vol-mlflow-data"]
    assert all(x["Labels"][LABEL_RUN] == snap["run_id"] for x in snap["networks"] + snap["volumes"])


@pytest.mark.docker
def test_nothing_is_left_behind(reference_run, docker_client):
    _, observer = reference_run
    assert leftovers(docker_client, observer.snapshot["run_id"]) == []


@pytest.fixture(scope="module")
def renamed_run(docker_client, tmp_path_factory):
    root = prepare(submission=REPO, dest=tmp_path_factory.mktemp("renamed") / "sub", solution=True)
    (root / "docker-compose.yml").write_text(ALT_COMPOSE, encoding="utf-8")
    observer = Observer(docker_client)
    report = grade(options=Options(submission=root, task_ids=("6", "7")), on_event=observer)
    return {c.id: c for c in report.checks}, observer


@pytest.mark.docker
def test_renamed_stack_is_found_by_role(renamed_run):
    checks, _ = renamed_run
    assert [c.id for c in checks.values() if c.id.startswith("6.") and c.status != PASSED] == []
    assert checks["7.stack-healthy"].status == PASSED
    assert checks["6.tracking-uri"].message.startswith("MLFLOW_TRACKING_URI=http://tracking:8080 reaches `tracking`")


@pytest.mark.docker
def test_missing_allowed_host_fails_with_the_403_explanation(renamed_run, docker_client):
    checks, observer = renamed_run
    reach = checks["7.api-reaches-mlflow"]
    assert reach.status == "failed" and reach.score == 0
    assert "MLflow answered 403: it rejected the Host header `tracking:8080`" in reach.message
    assert "--allowed-hosts" in reach.message
    assert reach.found.startswith("403")
    logged = checks["7.logged-visible"]
    assert logged.status == "failed" and "403" in logged.message
    assert ERROR not in {c.status for c in checks.values()}
    assert leftovers(docker_client, observer.snapshot["run_id"]) == []


@pytest.mark.parametrize(("status", "text", "expected"), [
    (None, "URLError: <urlopen error [Errno -2] Name or service not known>", "does not resolve"),
    (None, "URLError: <urlopen error [Errno 111] Connection refused>", "nothing listens at `mlflow:5000`"),
    (500, "oops", "the call answered 500"),
])
def test_unreachable_explanations(status, text, expected):
    assert expected in explain_unreachable("http://mlflow:5000", status, text)
