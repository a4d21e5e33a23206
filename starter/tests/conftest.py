"""Shared fixtures: a sample record, an app factory that cleans up, a JSON log-line reader, and a
canned HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from churn.app import create_app
from churn.config import Config

STARTER = Path(__file__).resolve().parents[1]


@pytest.fixture
def sample_record() -> dict[str, Any]:
    return json.loads((STARTER / "sample_request.json").read_text())


@pytest.fixture
def make_app() -> Iterator[Callable[..., Flask]]:
    """create_app(Config(**overrides)); stops each app's MLflow thread after the test."""
    apps: list[Flask] = []

    def factory(**overrides: Any) -> Flask:
        app = create_app(Config(**overrides))
        app.testing = True
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.extensions["churn"].stop()


@pytest.fixture
def client(make_app):
    return make_app().test_client()


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def json_lines() -> Callable[[str], list[dict[str, Any]]]:
    """Parse log output that must be one JSON object per line (fails the test otherwise)."""
    return _json_lines


class CannedServer:
    """A real HTTP server on 127.0.0.1 that answers each request with the next canned answer.

    `answers`: (status, content type, body) tuples, used in order; the last one repeats.
    `requests`: (method, path with query, headers, body) of every request received.
    For the transport rules of churn.mlflow_rest (errors, retries, JSON); the MLflow calls
    themselves are tested against a real MLflow server in tests/integration.
    """

    def __init__(self) -> None:
        self.answers: list[tuple[int, str, bytes]] = [(200, "application/json", b"{}")]
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        canned = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                canned.requests.append((self.command, self.path, dict(self.headers),
                                        self.rfile.read(length)))
                status, content_type, body = (canned.answers.pop(0) if len(canned.answers) > 1
                                              else canned.answers[0])
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def answer(self, *answers: tuple[int, str, bytes]) -> None:
        self.answers = list(answers)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def canned_server() -> Iterator[CannedServer]:
    server = CannedServer()
    yield server
    server.close()
