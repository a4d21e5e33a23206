"""Shared fixtures: a sample record, an app factory that cleans up, and a JSON log-line reader."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
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


@pytest.fixture
def mlflow_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A real MLflow backend without a server: the file store, which MLflow 3 makes opt-in."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    return (tmp_path / "mlruns").as_uri()
