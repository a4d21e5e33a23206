"""Task 10's sandbox: the test files it copies, the runner it builds, and sandboxed runs on the real engine."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

from grader.context import Context
from grader.docker import sandbox
from grader.docker.build import build_image
from grader.errors import ResourceError
from grader.options import Options, Timeouts
from tests.grader.dockerkit import leftovers

REPO = Path(__file__).resolve().parents[3]


def runner_module(name: str):
    """A file baked into the runner image, imported from the repository (it is plain Python)."""
    spec = importlib.util.spec_from_file_location(name, sandbox.RUNNER_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pins(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        if match := re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line):
            found[match[1].lower()] = match[2]
    return found


def test_runner_packages_are_pinned_like_the_kits():
    runner = pins((sandbox.RUNNER_DIR / "requirements.txt").read_text())
    dev = pins((REPO / "requirements-dev.txt").read_text())
    assert {"pytest", "pytest-testinfra", "pytest-timeout", "requests"} <= set(runner)
    assert {name: version for name, version in runner.items() if dev.get(name) != version} == {}
    assert "FROM python:3.11-slim-bookworm\n" in (sandbox.RUNNER_DIR / "Dockerfile").read_text()


def test_runner_digest_follows_its_files(tmp_path):
    copy = tmp_path / "runner"
    shutil.copytree(sandbox.RUNNER_DIR, copy)
    before = sandbox.runner_digest(copy)
    assert before == sandbox.runner_digest(sandbox.RUNNER_DIR)
    (copy / "pytest.ini").write_text("[pytest]\n")
    assert sandbox.runner_digest(copy) != before


def make_tests(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_collect_copies_regular_files_only(tmp_path):
    work = make_tests(tmp_path / "sub", {"tests/container/test_a.py": "def test_a(): pass\n",
                                         "tests/container/conftest.py": "", "tests/container/data/x.json": "{}",
                                         "starter/sample_request.json": "{}", "tests/other/test_b.py": ""})
    (work / "tests/container/secret.py").symlink_to("/etc/passwd")
    (work / "tests/container/linked").symlink_to("/etc", target_is_directory=True)
    files = sandbox.collect_tests(work, tmp_path / "copy")
    assert files == ("tests/container/test_a.py",)
    copied = sorted(str(p.relative_to(tmp_path / "copy")) for p in (tmp_path / "copy").rglob("*") if p.is_file())
    assert copied == ["starter/sample_request.json", "tests/container/conftest.py", "tests/container/data/x.json",
                      "tests/container/test_a.py"]
    assert oct((tmp_path / "copy/tests/container/test_a.py").stat().st_mode)[-3:] == "644"


@pytest.mark.parametrize(("files", "message"), [
    ({}, "no tests/container/ folder"),
    ({"tests/container/helpers.py": ""}, "no test_*.py file"),
    ({f"tests/container/test_{i}.py": "" for i in range(sandbox.MAX_FILES + 1)}, "more than"),
])
def test_collect_says_what_is_missing(tmp_path, files, message):
    work = make_tests(tmp_path / "sub", {"starter/README.md": "", **files})
    with pytest.raises(ResourceError, match=re.escape(message)) as info:
        sandbox.collect_tests(work, tmp_path / "copy")
    assert info.value.blame == "10.passes-correct"


def test_a_tests_folder_that_leaves_the_submission_is_not_followed(tmp_path):
    outside = make_tests(tmp_path / "outside", {"container/test_x.py": "def test_x(): pass\n"})
    work = make_tests(tmp_path / "sub", {"starter/README.md": ""})
    (work / "tests").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ResourceError, match="no tests/container/ folder"):
        sandbox.collect_tests(work, tmp_path / "copy")


def test_socket_paths_stay_short_wherever_the_scratch_folder_is(tmp_path):
    class Ctx:
        run_id = "t123456789"

    folder = sandbox.socket_dir(Ctx(), "abcd1234")
    try:
        assert len(str(folder / "docker.sock")) < 100 and folder.name.startswith("mlops-grader-t123456789-")
        assert oct(folder.stat().st_mode)[-3:] == "755"
    finally:
        folder.rmdir()


def test_result_line_and_outcomes_are_read_defensively():
    line = sandbox.RESULT_MARK + json.dumps({"exit_code": 1, "tests": [
        {"nodeid": "tests/container/test_a.py::test_x", "outcome": "failed", "message": "assert 0 != 0"},
        {"nodeid": 7}, "junk", {"nodeid": "tests/container/test_a.py::test_y", "outcome": "passed"}]})
    result = sandbox.parse_result(f"noise\n{sandbox.RESULT_MARK}{{broken\n{line}\nprinted after\n")
    tests = sandbox.outcomes(result["tests"])
    assert [(t.name, t.outcome) for t in tests] == [("test_a.py::test_x", "failed"), ("test_a.py::test_y", "passed")]
    assert sandbox.parse_result("no result\n") is None
    assert sandbox.parse_result(sandbox.RESULT_MARK + "[1]") is None


def test_the_runner_reports_a_test_cut_off_by_the_time_limit(tmp_path):
    run_tests = runner_module("run_tests")
    results = tmp_path / "results.jsonl"
    results.write_text("\n".join(json.dumps(r) for r in [
        {"event": "start", "nodeid": "t.py::a"}, {"event": "end", "nodeid": "t.py::a", "outcome": "passed"},
        {"event": "start", "nodeid": "t.py::b"}, {"event": "collect-error", "nodeid": "u.py", "message": "E x"}]) + "\nnot json\n")
    tests, errors = run_tests.read_results(str(results))
    assert [(t["nodeid"], t["outcome"]) for t in tests] == [("t.py::a", "passed"), ("t.py::b", "timed-out")]
    assert errors[0]["nodeid"] == "u.py"


def test_the_plugin_keeps_the_lines_that_say_what_failed():
    report = runner_module("container_tests_report")
    text = "def test_x():\n>   assert host.user().uid != 0\nE   assert 0 != 0\nE    +  where 0 = ...\n"
    assert report.short_message(text) == "assert 0 != 0\n+  where 0 = ..."
    assert report.short_message("one\ntwo\nthree\nfour") == "two\nthree\nfour"


# -- sandboxed runs on the real engine -----------------------------------------------------------
SERVER = ("FROM python:3.11-slim-bookworm\nRUN mkdir -p /srv && echo '{\"status\": \"ok\"}' > /srv/health\n"
          "WORKDIR /srv\nEXPOSE 5000\nCMD [\"python\", \"-m\", \"http.server\", \"5000\"]\n")
SUITE = '''
import json, os, pathlib, socket, subprocess, time, urllib.request
import pytest, testinfra

CONTAINER = os.environ.get("API_CONTAINER", "lab10-api")
API = os.environ.get("API_URL", "http://localhost:5000")

def test_published_port_reaches_the_api():
    assert json.load(urllib.request.urlopen(f"{API}/health", timeout=5))["status"] == "ok"

def test_testinfra_docker_backend():
    assert testinfra.get_host(f"docker://{CONTAINER}").file("/srv/health").is_file

def test_docker_inspect_and_logs():
    info = json.loads(subprocess.run(["docker", "inspect", CONTAINER], capture_output=True, check=True).stdout)
    assert "WEB_CONCURRENCY=1" in info[0]["Config"]["Env"]  # the grader's constants.API_SERVER_ENV
    assert subprocess.run(["docker", "logs", CONTAINER], capture_output=True).returncode == 0

def test_other_docker_commands_are_refused():
    assert subprocess.run(["docker", "ps"], capture_output=True).returncode != 0

def test_no_network_at_all():
    with pytest.raises(OSError):
        socket.create_connection(("1.1.1.1", 443), timeout=3)
    with open("/proc/net/route") as routes:
        assert len(routes.read().splitlines()) == 1  # the header: not even a default route to the host

def test_read_only_outside_tmp():
    with pytest.raises(OSError):
        pathlib.Path("/lab/tests/container/planted.py").write_text("x")
    pathlib.Path("/tmp/ok").write_text("x")

def test_sample_request_is_there():
    assert pathlib.Path("starter/sample_request.json").is_file()

def test_fails():
    assert 1 == 2
'''
HANGS = "import time\n\ndef test_quick():\n    pass\n\ndef test_hangs():\n    time.sleep(600)\n"


def sandbox_run(tmp_path: Path, suite: str, *, scale: float = 1.0):
    """One sandboxed run of `suite` against SERVER's image; (SuiteRun, run id, cleanup problems)."""
    scratch = Path(tempfile.mkdtemp(prefix="mlops-grader-test-"))
    ctx = Context(options=Options(submission=REPO, timeout_scale=scale, timeouts=Timeouts(ready=60 / scale)),
                  run_id="t" + uuid.uuid4().hex[:9], workdir=scratch / "submission", scratch=scratch)
    try:
        work = make_tests(ctx.workdir, {"tests/container/test_suite.py": suite, "starter/sample_request.json": "{}",
                                        "Dockerfile": SERVER})
        image = build_image(ctx, context=work, dockerfile="Dockerfile", tag=ctx.name("server"), what="server")
        sandbox.collect_tests(work, scratch / "tests")
        run = sandbox.run_suite(ctx, image=image.tag, tests=scratch / "tests", port=5000,
                                runner=sandbox.runner_image(ctx), must_answer=True)
    finally:
        problems = ctx.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return run, ctx.run_id, problems


@pytest.mark.docker
@pytest.mark.slow
def test_a_sandboxed_run_gives_the_tests_the_lab_contract_and_nothing_more(tmp_path, docker_client):
    run, run_id, problems = sandbox_run(tmp_path, SUITE)
    outcomes = {t.name.split("::")[1]: t.outcome for t in run.tests}
    assert run.error is None and run.exit_code == 1, (run.error, run.output)
    assert outcomes.pop("test_fails") == "failed"
    assert set(outcomes.values()) == {"passed"}, run.output
    assert any("GET /v1.41/containers/json" in r for r in run.refused)
    assert run.container == "running"
    assert problems == [] and leftovers(docker_client, run_id) == []


@pytest.mark.docker
@pytest.mark.slow
def test_a_hanging_suite_is_cut_off_and_what_ran_is_kept(tmp_path, docker_client):
    run, run_id, problems = sandbox_run(tmp_path, HANGS, scale=0.1)  # a 12 s time limit
    assert run.timed_out and run.error is None
    assert {t.name.split("::")[1]: t.outcome for t in run.tests} == {"test_quick": "passed", "test_hangs": "timed-out"}
    assert problems == [] and leftovers(docker_client, run_id) == []


def test_the_docker_cli_is_found():
    assert os.path.isfile(sandbox.docker_cli())
