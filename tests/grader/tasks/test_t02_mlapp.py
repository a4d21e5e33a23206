"""Task 2 checks: static rules on small Dockerfiles; the reference and broken variants on the engine."""

from __future__ import annotations

import pytest

from grader.parse.dockerfiles import DockerfileModel
from grader.tasks import common
from grader.tasks import t02_mlapp as t02
from tests.grader.dockerkit import leftovers, variant_run


def _run(check, text: str):
    return check(mlapp_dockerfile=DockerfileModel.from_text(text, name="Dockerfile.mlapp"))


@pytest.mark.parametrize(("text", "passed", "found"), [
    ("FROM python:3.11-slim-bookworm\n", True, None),
    ("FROM python\n", False, "line 1: `FROM python` has no tag (means `latest`)"),
    ("FROM python:3.11 AS b\nFROM python:latest\nCOPY --from=b /x /x\n", False, "line 2: `FROM python:latest` uses `latest`"),
    ("ARG TAG\nFROM python:${TAG}\n", False, "the tag `${TAG}` is an ARG without a default"),
    ("ARG TAG=3.11-slim\nFROM python:${TAG} AS b\nFROM b\n", True, None),
])
def test_base_pinned(text, passed, found):
    outcome = _run(t02.base_is_pinned, text)
    assert outcome.passed is passed
    if found:
        assert found in outcome.found


@pytest.mark.parametrize(("text", "passed", "fragment"), [
    ('FROM p:1\nCMD ["gunicorn", "--config", "python:churn.gunicorn_conf", "churn.wsgi:app"]\n', True, "exec form"),
    ("FROM p:1\nCMD gunicorn churn.wsgi:app\n", False, "line 2: `CMD gunicorn churn.wsgi:app` (shell form"),
    ("FROM p:1\nCMD ['gunicorn', 'churn.wsgi:app']\n", False, "not valid JSON (use double quotes)"),
    ('FROM p:1\nCMD ["python", "-m", "churn.app"]\n', False, '`CMD ["python", "-m", "churn.app"]`'),
    ("FROM p:1\n", False, "no CMD or ENTRYPOINT"),
    ('FROM p:1\nENTRYPOINT ["/opt/venv/bin/gunicorn"]\nCMD ["churn.wsgi:app"]\n', True, "exec form"),
    ('FROM p:1 AS base\nCMD ["gunicorn", "churn.wsgi:app"]\nFROM base\n', True, "exec form"),  # inherited
])
def test_exec_cmd(text, passed, fragment):
    outcome = _run(t02.exec_cmd, text)
    assert outcome.passed is passed
    assert fragment in (outcome.message if passed else outcome.found)


def test_install_pattern():
    for line in ("RUN pip install -r r.txt", "RUN /opt/venv/bin/pip install --no-cache-dir -r /tmp/r.txt",
                 "RUN python -m pip install -r r.txt", "RUN uv pip install -r r.txt", "RUN poetry install"):
        assert t02.INSTALL.search(line), line
    for line in ("RUN useradd app", "RUN pip --version", "RUN apt-get install -y gcc"):
        assert not t02.INSTALL.search(line), line


def test_json_answers_and_sample(tmp_path):
    assert t02._json_answer({"status": 200, "body": '{"status": "ok"}\n'}) == (True, '200 {"status": "ok"}')
    assert t02._json_answer({"status": 200, "body": "OK"})[0] is False
    assert t02._json_answer({"status": None, "error": "refused"}) == (False, "no answer (refused)")
    assert common.sample_request(tmp_path) == common.SAMPLE  # no file: the built-in sample
    (tmp_path / "starter").mkdir()
    (tmp_path / "starter" / "sample_request.json").write_text('{"tenure_months": 1}')
    assert common.sample_request(tmp_path) == {"tenure_months": 1}


class _Image:
    def __init__(self, test):
        self.config = {"Healthcheck": {"Test": test}} if test else {}


@pytest.mark.parametrize(("test", "passed", "fragment"), [
    (["CMD", "python", "-c", "pass"], True, "exec form"),
    (["CMD-SHELL", "curl -f localhost"], False, "CMD-SHELL"),
    (["NONE"], False, "no HEALTHCHECK"),
    (None, False, "no HEALTHCHECK"),
])
def test_healthcheck_exec_reads_the_image_config(test, passed, fragment):
    model = DockerfileModel.from_text("FROM p:1\n")
    outcome = t02.healthcheck_exec(_Image(test), model)
    assert outcome.passed is passed
    assert fragment in (outcome.message if passed else outcome.found)


def test_a_failing_healthcheck_is_quoted_by_the_end_of_its_output():
    traceback = "Traceback (most recent call last):\n" + "  File \"/app/health.py\", line 3\n" * 40 \
        + "ConnectionRefusedError: [Errno 111] Connection refused\n"
    quoted = common.output_tail(traceback)
    assert quoted.startswith("…") and len(quoted) == common.HEALTH_OUTPUT_CHARS
    assert quoted.endswith("ConnectionRefusedError: [Errno 111] Connection refused")
    assert common.output_tail("  ok\n") == "ok"
    assert common.output_tail("\x1b[31m" + "x" * 400 + "\x1b[0m") == "…" + "x" * 299   # no cut escape left


@pytest.mark.docker
def test_reference_scores_full_marks_on_task_2(reference_run):
    report = reference_run[0]
    results = {c.id: c for c in report.checks if c.task_id == "2"}
    assert len(results) == 10
    assert {i: (c.status, c.message) for i, c in results.items() if not c.passed} == {}
    assert "runs as uid 10001" in results["2.non-root"].message
    assert "listens on 0.0.0.0:5000" in results["2.binds-all"].message
    assert "reused the dependency layer" in results["2.deps-before-code"].message
    assert "POST /predict -> 200" in results["2.api-answers"].message


@pytest.mark.docker
def test_loopback_root_shell_form_variant(docker_client):
    run = variant_run("loopback-root")
    r = run.results
    assert r["2.exec-cmd"].found.startswith("line 2: `CMD python -m http.server")
    assert "listens on 127.0.0.1:5000 (loopback only" in r["2.api-answers"].message
    assert r["2.binds-all"].found == "listens on 127.0.0.1:5000" and r["2.binds-all"].expected.startswith("0.0.0.0:5000")
    assert r["2.expose"].expected == "EXPOSE 5000" and "no EXPOSE" in r["2.expose"].found
    assert r["2.non-root"].found == "PID 1 runs as uid 0 (root); image: no USER (root)"
    assert r["2.healthcheck-exec"].found == "no HEALTHCHECK in the Dockerfile"
    assert r["2.healthy"].message.startswith("the image has no HEALTHCHECK")
    assert all(c.status == "failed" and c.score == 0 for c in r.values() if c.id.startswith("2."))
    assert run.cleanup_problems == [] and leftovers(docker_client, run.run_id) == []


@pytest.mark.docker
def test_syntax_error_variant_fails_the_build_and_what_needs_it():
    r = variant_run("syntax").results
    builds = r["2.builds"]
    assert builds.score == 0 and builds.expected == "Dockerfile.mlapp to build"
    assert builds.found == ("Dockerfile.mlapp could not be built: dockerfile parse error line 2: "
                            "unknown instruction: RUNN")
    assert r["2.base-pinned"].passed  # static checks do not need the image
    # hadolint reads the file, so it scores what the file shows even when the build fails (issue 9)
    assert r["9.hadolint"].status == "failed" and "DL1000" in (r["9.hadolint"].details or "")


@pytest.mark.docker
def test_exiting_container_variant():
    r = variant_run("exits").results
    assert r["2.builds"].passed
    # 2.api-answers owns this failure, so it states it; the checks that depend on it were not run.
    assert r["2.api-answers"].message.startswith("the container exited within a second of starting with code 3")
    assert "boom: no model file" in r["2.api-answers"].details
    # 2.non-root falls back to its file evidence when no container runs (issue 9)
    assert r["2.non-root"].message == "the image runs as root (read from the Dockerfile: no container ran)"


@pytest.mark.docker
def test_code_copied_before_install_variant():
    r = variant_run("clutter").results
    deps = r["2.deps-before-code"]
    assert deps.status == "failed"
    assert "`RUN pip install --no-index --no-deps pip` (line 5) ran again" in deps.found
    assert "after step 4/9 `COPY . /app` (line 4), which copies the code" in deps.found
    assert r["2.expose"].found.startswith("`EXPOSE 8000` (line 7)")
    assert 'line 8: `HEALTHCHECK CMD python -c "print(1)"`' in r["2.healthcheck-exec"].found
