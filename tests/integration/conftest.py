"""The reference stack under a unique compose project, on random loopback ports, torn down after."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import yaml

from grader.workspace import prepare

REPO = Path(__file__).resolve().parents[2]
UP_TIMEOUT = 600


@dataclass
class ReferenceStack:
    project: str
    workdir: Path
    files: tuple[Path, ...]

    def compose(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
        cmd = ["docker", "compose", "-p", self.project, "--project-directory", str(self.workdir)]
        for f in self.files:
            cmd += ["-f", str(f)]
        result = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"docker compose {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def port(self, service: str, container_port: int = 5000) -> int:
        out = self.compose("port", service, str(container_port)).stdout.strip()
        return int(out.rsplit(":", 1)[1])

    def url(self, service: str, path: str) -> str:
        return f"http://127.0.0.1:{self.port(service)}{path}"

    def container_id(self, service: str) -> str:
        return self.compose("ps", "-q", service).stdout.strip()

    def up(self) -> None:
        self.compose("up", "-d", "--wait", "--wait-timeout", str(UP_TIMEOUT), timeout=UP_TIMEOUT + 60)

    def labelled(self, kind: str) -> list[str]:
        """Names of containers/networks/volumes of this project still on the engine."""
        out = subprocess.run(
            ["docker", kind, "ls", "-q", "--filter", f"label=com.docker.compose.project={self.project}"]
            + (["-a"] if kind == "container" else []),
            capture_output=True, text=True, check=True,
        ).stdout
        return out.split()


def wait_until(predicate, *, timeout: float, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


@pytest.fixture(scope="session")
def reference_stack(tmp_path_factory, docker_client) -> ReferenceStack:
    """Build and start the reference stack; yield it; remove everything it made."""
    run = uuid.uuid4().hex[:8]
    workdir = prepare(submission=REPO, dest=tmp_path_factory.mktemp("ref") / "submission", solution=True)
    (workdir / "logs").mkdir(mode=0o777, exist_ok=True)
    (workdir / "logs").chmod(0o777)  # the API runs as uid 10001 and writes here
    # Same compose file as students run, with per-run image names and random loopback ports,
    # so a developer's own `make demo` on 5000/5001 is never disturbed.
    override = workdir.parent / "test-override.yml"
    override.write_text(yaml.safe_dump({
        "services": {
            "mlapp": {"image": f"mlops-kit-test-{run}/churn-api:test", "ports": ["127.0.0.1::5000"],
                      "environment": {"MLFLOW_REFRESH_SECONDS": "3"}},
            "mlflow": {"image": f"mlops-kit-test-{run}/mlflow:test", "ports": ["127.0.0.1::5000"]},
            "train": {"image": f"mlops-kit-test-{run}/churn-api:test"},
        }
    }).replace("ports:\n", "ports: !override\n"))
    stack = ReferenceStack(project=f"mlops-kit-test-{run}", workdir=workdir,
                           files=(workdir / "docker-compose.yml", override))
    try:
        stack.compose("build", timeout=1800)
        stack.up()
        yield stack
    finally:
        stack.compose("--profile", "train", "down", "-v", "--rmi", "all", "--remove-orphans",
                      "--timeout", "10", timeout=300, check=False)
        # Nothing of the run may be left: a teardown error fails the suite.
        left = {kind: stack.labelled(kind) for kind in ("container", "network", "volume")}
        left["image"] = subprocess.run(
            ["docker", "images", "-q", f"mlops-kit-test-{run}/*"], capture_output=True, text=True
        ).stdout.split()
        assert not any(left.values()), f"the reference stack left resources behind: {left}"


@pytest.fixture(scope="session")
def sample_record() -> dict:
    return json.loads((REPO / "starter" / "sample_request.json").read_text())


@pytest.fixture
def http() -> requests.Session:
    with requests.Session() as session:
        yield session
