"""Task 4 checks: log-line matching and the unbuffered rule (pure); the live checks run in test_t07."""

from __future__ import annotations

import json

import pytest

from grader.parse.dockerfiles import DockerfileModel
from grader.registry import get
from grader.tasks.t04_logging import files_containing, judge, matching_lines, python_unbuffered

RID = "grader-abc-1"


def unbuffered(dockerfile: str):
    return get("4.unbuffered").func(mlapp_dockerfile=DockerfileModel.from_text(dockerfile, name="Dockerfile.mlapp"))


@pytest.mark.parametrize("dockerfile", [
    "FROM python:3.11-slim\nENV PYTHONUNBUFFERED=1\nCMD [\"gunicorn\"]\n",
    "FROM python:3.11-slim\nENV PYTHONUNBUFFERED=true PORT=5000\n",
    "FROM python:3.11-slim AS base\nENV PYTHONUNBUFFERED 1\nFROM base\nCMD [\"gunicorn\"]\n",
    "FROM python:3.11-slim\nCMD [\"python\", \"-u\", \"-m\", \"churn\"]\n",
    "FROM python:3.11-slim\nCMD [\"python3\", \"-Bu\", \"app.py\"]\n",
    "FROM python:3.11-slim\nCMD python -u app.py\n",
])
def test_unbuffered_passes(dockerfile):
    assert unbuffered(dockerfile).passed


@pytest.mark.parametrize(("dockerfile", "found"), [
    ("FROM python:3.11-slim\nCMD [\"gunicorn\"]\n", "no PYTHONUNBUFFERED in the final stage"),
    ("FROM python:3.11-slim\nENV PYTHONUNBUFFERED=0\n", "PYTHONUNBUFFERED='0'"),
    # ENV in a builder stage does not reach a final stage that starts FROM the base image again
    ("FROM python:3.11-slim AS b\nENV PYTHONUNBUFFERED=1\nFROM python:3.11-slim\n", "no PYTHONUNBUFFERED"),
    ("FROM python:3.11-slim\nCMD [\"python\", \"-m\", \"x\", \"-u\"]\n", "no PYTHONUNBUFFERED"),
])
def test_unbuffered_fails(dockerfile, found):
    outcome = unbuffered(dockerfile)
    assert not outcome.passed and found in outcome.found


def test_python_unbuffered_only_reads_interpreter_options():
    assert python_unbuffered(["/usr/local/bin/python3.11", "-u", "x.py"])
    assert not python_unbuffered(["gunicorn", "-u", "x"])
    assert not python_unbuffered(["python", "x.py", "-u"])


def line(**fields) -> str:
    return json.dumps({"ts": "2025-01-01T00:00:00Z", "level": "INFO", "event": "request", **fields})


def test_the_request_line_is_found_among_others():
    text = "\n".join([line(event="app_started"), "booting worker",
                      line(method="GET", path="/health", status=200, request_id=RID, latency_ms=1.2)])
    records, others = matching_lines(text, RID)
    outcome = judge(records, others, request_id=RID, tail=text)
    assert outcome.passed
    assert outcome.message == f"one JSON line per request: method=GET, path=/health, status=200, request_id={RID}"


def test_other_spellings_and_nesting_count():
    text = json.dumps({"http": {"method": "GET", "url": "/health", "status_code": 200}, "requestId": RID})
    assert judge(*matching_lines(text, RID), request_id=RID, tail=text).passed


def test_a_prefix_before_the_json_is_tolerated():
    text = "2025-01-01 INFO " + line(method="GET", path="/health", status=200, request_id=RID)
    assert judge(*matching_lines(text, RID), request_id=RID, tail=text).passed


def test_missing_fields_get_half():
    text = line(path="/health", request_id=RID)
    outcome = judge(*matching_lines(text, RID), request_id=RID, tail=text)
    assert (outcome.passed, outcome.partial) == (False, "missing-fields")
    assert outcome.message == "the request's JSON line lacks method, status"


def test_plain_text_access_log_fails_with_the_line():
    text = f'10.0.0.1 - - "GET /health HTTP/1.1" 200 {RID}'
    outcome = judge(*matching_lines(text, RID), request_id=RID, tail=text)
    assert not outcome.passed and outcome.found == text


def test_no_line_shows_what_the_log_looked_like():
    text = "[INFO] Booting worker with pid: 7\nListening at: http://0.0.0.0:5000"
    outcome = judge(*matching_lines(text, RID), request_id=RID, tail=text)
    assert not outcome.passed
    assert "Listening at" in outcome.found and outcome.details == text


def test_files_containing(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "api.log").write_text(line(request_id="other") + "\n" + line(request_id=RID) + "\n")
    (tmp_path / "empty.log").write_text("")
    [(path, found)] = files_containing(tmp_path, RID)
    assert path.name == "api.log" and RID in found
