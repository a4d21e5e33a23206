"""Gunicorn settings from the environment, and one real gunicorn run with them."""

import importlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import churn
from churn.config import ConfigError

SRC = Path(churn.__file__).resolve().parents[1]


def load_conf():
    sys.modules.pop("churn.gunicorn_conf", None)
    return importlib.import_module("churn.gunicorn_conf")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("HOST", "PORT", "WEB_CONCURRENCY", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)


def test_defaults():
    conf = load_conf()
    assert (conf.bind, conf.workers, conf.timeout, conf.accesslog) == ("0.0.0.0:5000", 2, 30, None)
    assert conf.control_socket_disable is True


def test_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("HOST", "127.0.0.1")
    monkeypatch.setenv("PORT", "8123")
    monkeypatch.setenv("WEB_CONCURRENCY", "4")
    monkeypatch.setenv("LOG_LEVEL", "warning")
    conf = load_conf()
    assert (conf.bind, conf.workers, conf.loglevel) == ("127.0.0.1:8123", 4, "warning")


@pytest.mark.parametrize("name, value", [("PORT", "abc"), ("WEB_CONCURRENCY", "0")])
def test_bad_values_name_the_variable(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        load_conf()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn(env: dict[str, str], **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(SRC), **env}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.Popen([sys.executable, "-m", "gunicorn", "--config",
                             "python:churn.gunicorn_conf", "churn.wsgi:app"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **kwargs)


def test_bad_port_stops_gunicorn_with_one_clear_line():
    process = gunicorn({"PORT": "abc"})
    _, err = process.communicate(timeout=30)
    assert process.returncode == 1
    assert err.strip() == "Error: PORT must be an integer between 1 and 65535, got 'abc'"


def test_real_gunicorn_serves_and_logs_json(tmp_path, sample_record):
    port = free_port()
    process = gunicorn({"HOST": "127.0.0.1", "PORT": str(port), "WEB_CONCURRENCY": "1",
                        "LOG_DIR": str(tmp_path)})
    try:
        deadline, health = time.monotonic() + 30, None
        while health is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    health = json.load(r)
            except OSError:
                time.sleep(0.2)
        assert health and health["status"] == "ok"
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/predict", data=json.dumps(sample_record).encode(),
            headers={"Content-Type": "application/json", "X-Request-ID": "grader-gunicorn"})
        with urllib.request.urlopen(request, timeout=5) as r:
            assert r.headers["X-Request-ID"] == "grader-gunicorn"
            assert len(json.load(r)["predictions"]) == 1
    finally:
        process.terminate()
        out, err = process.communicate(timeout=30)
    lines = [json.loads(line) for line in out.splitlines()]  # every stdout line is JSON
    assert any(line["logger"] == "gunicorn.error" for line in lines)
    requests = [line for line in lines if line["event"] == "request"]
    assert [line["path"] for line in requests][-1] == "/predict"
    assert requests[-1]["request_id"] == "grader-gunicorn"
    assert "grader-gunicorn" in (tmp_path / "api.log").read_text()
