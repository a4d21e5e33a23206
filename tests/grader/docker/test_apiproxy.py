"""The filtering Docker API proxy of task 10's sandbox: the rules (pure), then the docker CLI through it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import uuid

import pytest

from grader.constants import LABEL_GRADER, LABEL_RUN
from grader.docker import apiproxy
from grader.docker.apiproxy import ApiProxy, Refused, Request, Scope, decide, parse_head
from grader.errors import ResourceError

CID = "4f" * 32
EXEC = "ab" * 32


def scope() -> Scope:
    return Scope(container_id=CID, names=("lab10-api", "mlops-grader-x-cut-1"), exec_ids={EXEC})


def request(method: str, target: str, body: bytes = b"", **headers) -> Request:
    path, _, query = target.partition("?")
    return Request(method=method, path=path, query=query, headers={k.lower(): v for k, v in headers.items()}, body=body)


@pytest.mark.parametrize(("method", "target", "rewritten"), [
    ("HEAD", "/_ping", "/_ping"),
    ("GET", "/v1.41/version", "/v1.41/version"),
    ("GET", "/v1.41/containers/lab10-api/json", f"/v1.41/containers/{CID}/json"),
    ("GET", "/containers/mlops-grader-x-cut-1/json", f"/containers/{CID}/json"),
    ("GET", f"/v1.41/containers/{CID[:12]}/logs?stderr=1&stdout=1&tail=all",
     f"/v1.41/containers/{CID}/logs?stderr=1&stdout=1&tail=all"),
    ("GET", "/v1.41/containers/lab10-api/top", f"/v1.41/containers/{CID}/top"),
    ("GET", f"/v1.41/exec/{EXEC}/json", f"/v1.41/exec/{EXEC}/json"),
])
def test_allowed_requests_are_rewritten_to_the_one_container(method, target, rewritten):
    assert decide(request(method, target), scope()).target == rewritten


def test_exec_create_is_read_and_exec_start_is_a_stream():
    create = decide(request("POST", "/v1.41/containers/lab10-api/exec", b'{"Cmd": ["id"], "User": "0"}'), scope())
    assert create.exec_create and not create.upgrade
    start = decide(request("POST", f"/v1.41/exec/{EXEC}/start", b"{}", Upgrade="tcp"), scope())
    assert start.upgrade and not start.exec_create


@pytest.mark.parametrize(("method", "target", "body", "status", "says"), [
    ("GET", "/v1.41/containers/json", b"", 403, "is not allowed in the test sandbox"),
    ("POST", "/v1.41/containers/create", b"{}", 403, "is not allowed"),
    ("GET", "/v1.41/containers/other/json", b"", 403, "only the container under test (lab10-api)"),
    ("POST", "/v1.41/containers/lab10-api/kill", b"", 403, "is not allowed"),
    ("POST", "/v1.41/containers/lab10-api/exec", b'{"Cmd": ["sh"], "Privileged": true}', 403, "privileged"),
    ("POST", "/v1.41/containers/lab10-api/exec", b"[1]", 400, "not a JSON object"),
    ("POST", f"/v1.41/exec/{'cd' * 32}/start", b"{}", 403, "not an exec this sandbox created"),
    ("GET", "/v1.41/containers/lab10-api/../json/json", b"", 400, "characters"),
    ("GET", "/v1.41/containers/lab10%2Dapi/json", b"", 400, "characters"),
    ("GET", "/v1.41/containers/lab10-api/json?x=%7B", b"", 400, "characters"),
    ("GET", "/v1.41/containers/lab10-api/json", b"x", 400, "has no body"),
    ("GET", "/v1.41/images/json", b"", 403, "is not allowed"),
    ("POST", "/v1.41/build", b"", 403, "is not allowed"),
    ("GET", "/v1.41/info", b"", 403, "is not allowed"),
])
def test_everything_else_is_refused_with_a_reason(method, target, body, status, says):
    with pytest.raises(Refused) as info:
        decide(request(method, target, body), scope())
    assert info.value.status == status and says in info.value.reason


def test_a_chunked_body_is_refused():
    with pytest.raises(Refused, match="chunked"):
        decide(request("POST", "/containers/lab10-api/exec", **{"Transfer-Encoding": "chunked"}), scope())


@pytest.mark.parametrize("raw", [b"GET /x HTTP/2\r\nHost: a", b"GET /x\r\nHost: a", b"GET /x HTTP/1.1\r\n folded",
                                 b"GET /x HTTP/1.1\r\nA: 1\r\na: 2", "GET /é HTTP/1.1".encode()])
def test_malformed_heads_are_refused(raw):
    with pytest.raises(Refused):
        parse_head(raw)


def test_the_forwarded_request_is_rebuilt_and_closes_after_the_answer():
    sent = request("POST", "/v1.41/containers/lab10-api/exec", b'{"Cmd": ["id"]}',
                   **{"User-Agent": "Docker-Client/28.2.2 (linux)", "X-Registry-Auth": "secret", "Connection": "keep-alive"})
    head = apiproxy.forwarded_head(sent, decide(sent, scope())).decode()
    assert head.startswith(f"POST /v1.41/containers/{CID}/exec HTTP/1.1\r\n")
    assert "Connection: close\r\n" in head and "Content-Length: 15\r\n" in head
    assert "secret" not in head and "keep-alive" not in head and head.endswith("\r\n\r\n")


def test_exec_ids_are_read_from_plain_and_chunked_answers():
    plain = b'HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n\r\n{"Id":"abc"}\n'
    chunked = b'HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n{"Id":\r\n6\r\n"abc"}\r\n0\r\n\r\n'
    assert apiproxy.response_json(plain) == apiproxy.response_json(chunked) == {"Id": "abc"}
    assert apiproxy.response_json(b"HTTP/1.1 500 x\r\n\r\nnot json") is None


def test_engine_address_from_docker_host():
    assert apiproxy.engine_address({}) == (socket.AF_UNIX, "/var/run/docker.sock")
    assert apiproxy.engine_address({"DOCKER_HOST": "tcp://10.0.0.2:2375"}) == (socket.AF_INET, ("10.0.0.2", 2375))
    with pytest.raises(ResourceError, match="not supported"):
        apiproxy.engine_address({"DOCKER_HOST": "tcp://h:2376", "DOCKER_TLS_VERIFY": "1"})
    with pytest.raises(ResourceError, match="not supported"):
        apiproxy.engine_address({"DOCKER_HOST": "ssh://me@h"})


# -- the docker CLI through the proxy, against the real engine ---------------------------------
@pytest.fixture
def two_containers(docker_client):
    run_id = "t" + uuid.uuid4().hex[:9]
    labels = {LABEL_GRADER: "1", LABEL_RUN: run_id}
    made = [docker_client.containers.run("python:3.11-slim-bookworm", ["sleep", "300"], detach=True, labels=labels,
                                         name=f"mlops-grader-{run_id}-{role}") for role in ("cut", "other")]
    yield made
    for container in made:
        container.remove(force=True)


@pytest.mark.docker
def test_the_docker_cli_reaches_only_the_container_under_test(tmp_path, two_containers):
    cut, other = two_containers
    proxy = ApiProxy(path=tmp_path / "docker.sock", scope=Scope(container_id=cut.id, names=("lab10-api", cut.name)))

    def docker(*args: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/docker.sock", "DOCKER_CONFIG": str(tmp_path)}
        return subprocess.run([shutil.which("docker"), *args], capture_output=True, text=True, env=env, timeout=60)

    with proxy:
        assert docker("exec", "lab10-api", "sh", "-c", "echo hello; exit 3").returncode == 3
        assert docker("exec", "lab10-api", "cat", "/etc/hostname").stdout.strip() == cut.id[:12]
        assert json.loads(docker("inspect", "lab10-api").stdout)[0]["Id"] == cut.id
        assert docker("logs", "lab10-api").returncode == 0
        for args in (("ps",), ("exec", other.name, "id"), ("exec", "--privileged", "lab10-api", "id"),
                     ("run", "--rm", "python:3.11-slim-bookworm", "true"), ("kill", "lab10-api"),
                     ("inspect", other.name), ("images",)):
            result = docker(*args)
            assert result.returncode != 0, (args, result.stdout)
        assert "mlops-grader sandbox" in docker("ps").stderr
        assert any("privileged" in r for r in proxy.refused)
    cut.reload()
    assert cut.status == "running"  # `docker kill` never reached it
    assert not (tmp_path / "docker.sock").exists()


@pytest.mark.docker
def test_a_second_request_on_one_connection_is_never_passed_on(tmp_path, two_containers):
    """Request smuggling: an allowed request followed by a forbidden one in the same bytes."""
    cut, other = two_containers
    with ApiProxy(path=tmp_path / "docker.sock", scope=Scope(container_id=cut.id, names=("lab10-api",))):
        client = socket.socket(socket.AF_UNIX)
        client.connect(str(tmp_path / "docker.sock"))
        client.sendall(("GET /v1.41/containers/lab10-api/json HTTP/1.1\r\nHost: x\r\n\r\n"
                        f"POST /v1.41/containers/{other.id}/kill HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
                        ).encode())
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
        client.close()
    assert answer.startswith(b"HTTP/1.1 200") and answer.count(b"HTTP/1.1 ") == 1
    other.reload()
    assert other.status == "running"
