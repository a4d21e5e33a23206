"""Reference container tests for Lab 10 (instructor side): they pass on a correct API image and catch
every planted fault of task 10 (grader/chaffs.yaml).

Run them against the running container `lab10-api` published on port 5000 (Lab 10), or let the
grader run them in its sandbox: `python -m grader --task 10`. Both set the same two things:
API_CONTAINER (the container, default lab10-api) and API_URL (the API, default http://localhost:5000).
"""

import json
import os
import subprocess
import time
import urllib.request
import uuid

import pytest
import testinfra

CONTAINER = os.environ.get("API_CONTAINER", "lab10-api")
API = os.environ.get("API_URL", "http://localhost:5000")
APP_DIR = "/app"
COMPILERS = ("gcc", "cc", "g++", "c++", "clang")


@pytest.fixture(scope="module")
def host():
    """The running container, through testinfra's docker backend (`docker exec`)."""
    return testinfra.get_host(f"docker://{CONTAINER}")


def inspect() -> dict:
    """`docker inspect CONTAINER`: what Docker knows about the running container."""
    out = subprocess.run(["docker", "inspect", CONTAINER], capture_output=True, text=True, check=True).stdout
    return json.loads(out)[0]


def call(path: str, body: bytes | None = None, headers: dict | None = None):
    """(status, JSON answer) of a request to the API through its published port."""
    request = urllib.request.Request(f"{API}{path}", data=body, headers={"Content-Type": "application/json",
                                                                           **(headers or {})})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.load(response)


# -- who runs the server ----------------------------------------------------------------------
def test_exec_user_is_not_root(host):
    assert host.user().uid != 0


def test_server_process_is_not_root(host):
    status = host.file("/proc/1/status").content_string
    effective_uid = next(line.split()[2] for line in status.splitlines() if line.startswith("Uid:"))
    assert effective_uid != "0"


def test_gunicorn_is_pid_1(host):
    argv = host.file("/proc/1/cmdline").content_string.split("\x00")
    assert any("gunicorn" in arg for arg in argv), argv


# -- reachable through the published port ----------------------------------------------------
def test_health_through_the_published_port():
    status, answer = call("/health")
    assert status == 200 and answer["status"] == "ok"


def test_listens_on_all_interfaces(host):
    # /proc/net/tcp lists listening sockets (state 0A); 00000000:1388 is 0.0.0.0:5000.
    listening = [line.split()[1] for line in host.file("/proc/net/tcp").content_string.splitlines()[1:]
                 if line.split()[3] == "0A"]
    assert any(address.startswith("00000000:") for address in listening), listening


# -- a healthcheck Docker can see --------------------------------------------------------------
def test_has_a_healthcheck_that_is_not_failing():
    state = inspect()["State"]
    assert "Health" in state, "the image has no HEALTHCHECK"
    assert state["Health"]["Status"] in ("starting", "healthy")


# -- the model is in the image -------------------------------------------------------------------
def test_code_and_model_are_in_the_image(host):
    assert host.file(f"{APP_DIR}/src/churn/app.py").is_file
    assert host.file(f"{APP_DIR}/models/churn-model.joblib").is_file
    assert host.file(f"{APP_DIR}/models/churn-model.json").is_file


def test_container_keeps_running():
    assert inspect()["State"]["Running"]


# -- a prediction through the published port -------------------------------------------------
def test_predict_answers_a_valid_record():
    with open("starter/sample_request.json", "rb") as fh:
        status, answer = call("/predict", body=fh.read())
    assert status == 200
    prediction = answer["predictions"][0]
    assert isinstance(prediction["churn"], bool) and 0 <= prediction["probability"] <= 1


# -- logs on stdout ----------------------------------------------------------------------------
def test_a_request_is_logged_as_json_on_stdout():
    request_id = f"lab10-{uuid.uuid4().hex}"
    call("/health", headers={"X-Request-ID": request_id})
    deadline = time.monotonic() + 5  # the line reaches `docker logs` at once; allow a moment anyway
    while True:
        logs = subprocess.run(["docker", "logs", CONTAINER], capture_output=True, text=True, check=True).stdout
        lines = [json.loads(line) for line in logs.splitlines() if request_id in line and line.startswith("{")]
        if lines or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert lines, f"no JSON line with request_id {request_id} in `docker logs {CONTAINER}`"
    assert lines[0]["path"] == "/health" and lines[0]["status"] == 200


# -- no compiler in the image --------------------------------------------------------------------
@pytest.mark.parametrize("compiler", COMPILERS)
def test_no_compiler(host, compiler):
    assert not host.exists(compiler)


# -- no repository clutter ---------------------------------------------------------------------
@pytest.mark.parametrize("path", [".git", ".venv", "venv", "tests", "notebooks", "data", "mlruns"])
def test_no_repository_clutter(host, path):
    assert not host.file(f"{APP_DIR}/{path}").exists
