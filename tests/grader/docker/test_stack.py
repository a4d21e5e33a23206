"""grader.docker.stack: the isolating override (pure + compose's own merge) and a small real stack."""

from __future__ import annotations

import ipaddress
import json
import socket
import stat
import textwrap
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from grader.constants import LABEL_RUN
from grader.context import Context
from grader.docker.compose import load, run_compose
from grader.docker.stack import ISOLATED_NETWORK, dump, override, prepare_bind_sources
from grader.errors import ResourceError
from grader.options import Limits, Options, Timeouts
from tests.grader.docker.test_compose import write

LABELS = {"org.mlops-kit.grader": "1", LABEL_RUN: "t"}
SERVER = 'CMD ["python", "-m", "http.server", "{port}"]'
HEALTH = ('HEALTHCHECK --interval=1s --timeout=3s --retries=60 CMD ["python", "-c", '
          '"import urllib.request; urllib.request.urlopen(\'http://127.0.0.1:{port}/\')"]')
# A small stack in the shape of the lab's, with every isolation hazard a student may write.
COMPOSE = textwrap.dedent("""\
    services:
      tracking:
        build: {context: ., dockerfile: Dockerfile.mlflow}
        container_name: fixed-tracking
        ports: ["7000"]
        volumes: [store:/data]
        networks: [net]
      api:
        build: {context: ., dockerfile: Dockerfile.mlapp}
        container_name: fixed-api
        ports: ["127.0.0.1:8000:8000"]
        mem_limit: 2g
        volumes: ["./logs:/logs", "./cache:/cache"]
        environment: {MLFLOW_TRACKING_URI: "http://fixed-tracking:7000"}
        networks: [net]
        depends_on: {tracking: {condition: service_healthy}}
    networks:
      net: {name: student-fixed-net}
    volumes:
      store: {name: student-real-data}
""")
MLFLOW = f"FROM python:3.11-slim-bookworm\n{HEALTH.format(port=7000)}\n{SERVER.format(port=7000)}\n"
# Runs as a non-root user and writes into the bind mount, as the lab's API does.
API = ("FROM python:3.11-slim-bookworm\nRUN mkdir /srv/api && echo ok > /srv/api/health\nUSER 10001\n"
       "WORKDIR /srv/api\nEXPOSE 8000\n"
       'CMD ["sh", "-c", "echo started > /logs/api.log; exec python -m http.server 8000"]\n')


def small_stack(root: Path, *, api: str = API) -> Path:
    return write(root, {"docker-compose.yml": COMPOSE, "Dockerfile.mlflow": MLFLOW, "Dockerfile.mlapp": api})


def test_override_isolates_every_service(tmp_path):
    model = load(small_stack(tmp_path))
    data = override(model, labels=LABELS, name=lambda s: f"run-{s}", images={"api": "img-api"},
                    limits=Limits(memory="512m", cpus=1.0, pids=256))
    api = data["services"]["api"]
    assert api["image"] == "img-api" and "image" not in data["services"]["tracking"]
    assert api["labels"] == LABELS and api["pull_policy"] == "never"
    assert api["networks"] == {"net": {"aliases": ["fixed-api"]}}
    assert api["deploy"] == {"resources": {"limits": {"memory": "512m", "cpus": "1.0", "pids": 256}}}
    assert api["memswap_limit"] == "512m"  # no swap beyond the memory limit
    assert api["logging"] == {"driver": "json-file", "options": {"max-size": "10m", "max-file": "2"}}
    assert data["networks"] == {"net": {"name": "run-net-net", "labels": LABELS, "internal": True,
                                        "driver_opts": {"com.docker.network.bridge.inhibit_ipv4": "true"}}}
    assert data["volumes"] == {"store": {"name": "run-vol-store", "labels": LABELS}}
    text = dump(data)
    assert "ports: !reset []" in text and "container_name: !reset ''" in text and "&id" not in text


def test_no_limits_leave_the_students_own(tmp_path):
    model = load(small_stack(tmp_path))
    data = override(model, labels=LABELS, name=str, images={}, limits=Limits())
    assert "deploy" not in data["services"]["api"] and "mem_limit" not in data["services"]["api"]


# Run ids are 10 hex digits: some read as numbers to a YAML 1.2 reader (7635778e67 is a float, 0123456789
# an int), and the stack's labels must still name the run (test_kill once found a stack left running).
@pytest.mark.parametrize("run_id", ["t", "7635778e67", "0123456789", "1234567890", "1e5", "0x1f", "true", "null",
                                    "0X1F", "0B101", "0O17", "1e1_0", "1.5e1_0"])
def test_compose_accepts_the_override(tmp_path, run_id):
    """Compose 2.40 itself merges the file and the override: no ports, no fixed names, per-run names,
    and labels that read back as written."""
    labels = {**LABELS, LABEL_RUN: run_id}
    model = load(small_stack(tmp_path / "sub"))
    path = tmp_path / "override.yml"
    path.write_text(dump(override(model, labels=labels, name=lambda s: f"run-{s}", images={"api": "img-api"},
                                  limits=Limits(memory="512m", pids=256),
                                  environment={"api": {"EXTRA": "1"}, "tracking": {"QUIET": "true"}})))
    result = run_compose(["-p", "p", "-f", str(model.file), "-f", str(path), "config", "--format", "json"],
                         timeout=60, cwd=model.workspace)
    assert result.returncode == 0, result.stderr
    merged = json.loads(result.stdout)
    for name, svc in merged["services"].items():
        assert "ports" not in svc and "container_name" not in svc, name
        assert svc["labels"] == labels
    assert merged["services"]["api"]["deploy"]["resources"]["limits"] == {"memory": "536870912", "pids": 256}
    assert "mem_limit" not in merged["services"]["api"]
    assert merged["services"]["tracking"]["networks"]["net"]["aliases"] == ["fixed-tracking"]
    # The grader's variables join the student's own, which stay.
    assert merged["services"]["api"]["environment"] == {"MLFLOW_TRACKING_URI": "http://fixed-tracking:7000",
                                                        "EXTRA": "1"}
    assert merged["services"]["tracking"]["environment"] == {"QUIET": "true"}
    assert merged["networks"]["net"]["name"] == "run-net-net"
    assert merged["volumes"]["store"]["name"] == "run-vol-store"
    assert merged["networks"]["net"]["labels"] == merged["volumes"]["store"]["labels"] == labels


def test_only_the_folder_the_labs_prepare_is_made_writable(tmp_path):
    """Lab 4 has students run `mkdir -p logs && chmod a+w logs`; any other missing bind source is left
    for Docker to create (owned by root), as on the student's machine (issue 9)."""
    root = small_stack(tmp_path / "sub")
    missing = prepare_bind_sources(load(root))
    assert missing == ["cache"]
    assert stat.S_IMODE((root / "logs").stat().st_mode) == 0o777
    assert not (root / "cache").exists()
    assert stat.S_IMODE(root.stat().st_mode) != 0o777


def context(tmp_path: Path, workdir: Path, *, limits: Limits | None = None) -> Context:
    options = Options(submission=workdir, limits=limits or Limits(), timeouts=Timeouts(stack_up=180, ready=60))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    return Context(options=options, run_id=uuid.uuid4().hex[:10], workdir=workdir, scratch=scratch)


def leftovers(docker_client, run_id: str) -> list[str]:
    selector = {"label": f"{LABEL_RUN}={run_id}"}
    return ([c.name for c in docker_client.containers.list(all=True, filters=selector)]
            + [n.name for n in docker_client.networks.list(filters=selector)]
            + [v.name for v in docker_client.volumes.list(filters=selector)])


@pytest.mark.docker
def test_small_stack_is_isolated_and_cleaned_up(tmp_path, docker_client):
    ctx = context(tmp_path, small_stack(tmp_path / "sub"), limits=Limits(memory="256m", pids=128))
    try:
        stack = ctx.get("stack")
        api_container, tracking = stack.container("api"), stack.container("tracking")
        assert (api_container.name, tracking.name) != ("fixed-api", "fixed-tracking")
        assert api_container.name.startswith(ctx.name("stack"))
        for container in (api_container, tracking):
            assert container.labels.get(LABEL_RUN) == ctx.run_id, (container.name, container.labels)
            assert not container.attrs["HostConfig"].get("PortBindings")
            assert container.attrs["HostConfig"]["Memory"] == 256 * 1024 * 1024
            assert container.attrs["HostConfig"]["PidsLimit"] == 128
        network = docker_client.networks.get(ctx.name("net-net"))
        assert network.attrs["Labels"][LABEL_RUN] == ctx.run_id
        assert network.attrs["Internal"] and network.attrs["Options"] == ISOLATED_NETWORK["driver_opts"]
        for container in (api_container, tracking):
            assert container.attrs["HostConfig"]["MemorySwap"] == 256 * 1024 * 1024  # no swap
            assert container.attrs["HostConfig"]["LogConfig"] == {
                "Type": "json-file", "Config": {"max-size": "10m", "max-file": "2"}}
        assert docker_client.volumes.get(ctx.name("vol-store")).attrs["Labels"][LABEL_RUN] == ctx.run_id
        # The MLflow role's service runs without MLflow's job runner; the API's environment is its own.
        assert "MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false" in tracking.attrs["Config"]["Env"]
        assert not any(e.startswith("MLFLOW_SERVER_ENABLE") for e in api_container.attrs["Config"]["Env"])
        assert not docker_client.networks.list(names=["student-fixed-net"])
        assert not docker_client.volumes.list(filters={"name": "student-real-data"})
        # The non-root API wrote into the pre-created bind mount.
        assert (ctx.workdir / "logs" / "api.log").read_text() == "started\n"
        assert stack.created_by_docker == ("cache",) and (ctx.workdir / "cache").stat().st_uid == 0
        # container_name stays reachable by DNS; the API is found on its real port.
        assert stack.tracking_uri == "http://fixed-tracking:7000"
        api = stack.service("mlapp")
        assert api.http("http://fixed-tracking:7000/")["status"] == 200
        assert api.port == 8000
        assert api.http("/health")["status"] == 200
        # ... and nothing else: neither the internet nor the grading machine itself.
        with socket.socket() as listener:
            listener.bind(("0.0.0.0", 0))
            listener.listen()
            subnet = docker_client.networks.get("bridge").attrs["IPAM"]["Config"][0]
            host = subnet.get("Gateway") or str(ipaddress.ip_network(subnet["Subnet"])[1])  # docker0 on the host
            for url in (f"http://{host}:{listener.getsockname()[1]}/", "http://1.1.1.1/"):
                answer = api.http(url, timeout=3)
                assert answer.get("status") is None and answer.get("error"), (url, answer)
        project = stack.project
    finally:
        problems = ctx.close()
    assert problems == []
    assert leftovers(docker_client, ctx.run_id) == []
    assert not docker_client.containers.list(all=True, filters={"label": f"com.docker.compose.project={project}"})


@pytest.mark.docker
def test_a_crashing_service_is_reported_with_ps_and_logs(tmp_path, docker_client):
    crashing = API.replace('echo started > /logs/api.log; exec python -m http.server 8000',
                           'echo cannot import churn.wsgi >&2; exit 3')
    ctx = context(tmp_path, small_stack(tmp_path / "sub", api=crashing))
    try:
        with pytest.raises(ResourceError) as info:
            ctx.get("stack")
    finally:
        assert ctx.close() == []
    error = info.value
    assert error.blame == "7.stack-healthy"
    assert "API service `api` is exited (code 3)" in error.message
    assert "$ docker compose ps -a" in error.details
    assert "cannot import churn.wsgi" in error.details
    assert leftovers(docker_client, ctx.run_id) == []


@pytest.mark.docker
def test_a_crash_looping_service_is_never_up(tmp_path, docker_client):
    """Between two crashes a restarting container is "running": once Docker has restarted it three
    times it is crash-looping, and the stack is not up, whatever the state says at that moment (the
    corpus's mlflow-crashes-after-start passed 7.stack-healthy when a probe caught it running)."""
    looping = API.replace('echo started > /logs/api.log; exec python -m http.server 8000',
                          'echo cannot import churn.wsgi >&2; sleep 1; exit 3')
    root = small_stack(tmp_path / "sub", api=looping)
    compose = root / "docker-compose.yml"
    text = compose.read_text()
    assert "    mem_limit: 2g\n" in text
    compose.write_text(text.replace("    mem_limit: 2g\n", "    mem_limit: 2g\n    restart: unless-stopped\n"))
    ctx = context(tmp_path, root)
    try:
        with pytest.raises(ResourceError) as info:
            ctx.get("stack")
    finally:
        assert ctx.close() == []
    message = info.value.message
    assert "API service `api` is" in message and "crash-looping" in message, message
    assert "had answered" not in message  # never judged up first
    assert leftovers(docker_client, ctx.run_id) == []


def _container(status: str, *, policy: str = "no", retries: int = 0, restarts: int = 0, code: int = 1):
    return SimpleNamespace(attrs={"State": {"Status": status, "ExitCode": code}, "RestartCount": restarts,
                                  "HostConfig": {"RestartPolicy": {"Name": policy, "MaximumRetryCount": retries}}})


@pytest.mark.parametrize("container, state, hopeless", [
    (_container("exited"), "exited (code 1)", True),                                   # no restart policy
    (_container("exited", policy="unless-stopped", restarts=1), "exited (code 1)", False),  # will restart
    (_container("exited", policy="on-failure", retries=2, restarts=2), "exited (code 1)", True),  # retries spent
    (_container("exited", policy="on-failure", retries=2, restarts=1), "exited (code 1)", False),
    (_container("exited", policy="on-failure", code=0), "exited (code 0)", True),    # on-failure: 0 is final
    (_container("exited", policy="on-failure", restarts=5), "exited (code 1)", True),  # no limit: crash loop
    (_container("running", policy="always", restarts=3), "running", True),
    (_container("running", policy="always", restarts=2), "running", False),
], ids=["no-policy", "will-restart", "on-failure-spent", "on-failure-left", "on-failure-clean-exit",
        "crash-loop", "running-after-3-restarts", "running-after-2"])
def test_hopeless_is_what_waiting_cannot_fix(container, state, hopeless):
    from grader.docker.stack import Stack

    assert Stack.hopeless(container, state) is hopeless


def test_policy_refuses_before_anything_starts(tmp_path):
    root = small_stack(tmp_path / "sub")
    text = (root / "docker-compose.yml").read_text().replace("    container_name: fixed-api\n",
                                                               "    container_name: fixed-api\n    privileged: true\n")
    (root / "docker-compose.yml").write_text(text)
    ctx = context(tmp_path, root)
    ctx._resources["stack_images"] = {}  # nothing is built: the policy must refuse first
    with pytest.raises(ResourceError, match=r"service api: `privileged: true`"):
        ctx.get("stack")
    assert ctx.close() == []
