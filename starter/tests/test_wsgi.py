"""The WSGI module builds the app from the environment at import time."""

import importlib
import sys

import pytest

from churn.config import ConfigError


def import_wsgi():
    sys.modules.pop("churn.wsgi", None)
    return importlib.import_module("churn.wsgi")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("MODEL_PATH", "MLFLOW_TRACKING_URI", "LOG_DIR", "PORT", "MAX_RECORDS"):
        monkeypatch.delenv(name, raising=False)
    yield
    module = sys.modules.pop("churn.wsgi", None)
    if module is not None:
        module.app.extensions["churn"].stop()


def test_app_is_built_from_the_environment(monkeypatch, sample_record):
    monkeypatch.setenv("MAX_RECORDS", "1")
    client = import_wsgi().app.test_client()
    assert client.get("/health").json["model_version"] == "1.0.0"
    assert client.post("/predict", json=[sample_record] * 2).status_code == 413


def test_bad_environment_fails_at_import_naming_the_variable(monkeypatch):
    monkeypatch.setenv("PORT", "abc")
    with pytest.raises(ConfigError, match="PORT"):
        import_wsgi()
