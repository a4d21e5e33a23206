"""The MLflow refresher against real MLflow stores: switch, not found, unreachable, bad model."""

import logging
import time

import pytest

from churn.config import DEFAULT_MODEL_PATH, Config
from churn.model import load_model
from churn.tracking import ModelRefresher
from churn.train import log_to_mlflow, main

CLOSED_PORT_URI = "http://127.0.0.1:9"  # the discard port: nothing listens there


def make_refresher(uri, alias="production", refresh_seconds=30.0):
    return ModelRefresher(model=load_model(DEFAULT_MODEL_PATH), tracking_uri=uri,
                          model_name="churn-model", model_alias=alias,
                          refresh_seconds=refresh_seconds)


@pytest.fixture(autouse=True)
def _capture_info(caplog):
    caplog.set_level(logging.INFO, logger="churn.tracking")


def events(caplog):
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "churn.tracking"]


@pytest.fixture
def registry(tmp_path, monkeypatch, mlflow_uri, capsys):
    """A real (file-based) MLflow registry; call it to train and register one more version."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_uri)

    def train_and_register(version="1.0.0"):
        assert main(["--output-dir", str(tmp_path / version), "--rows", "300",
                     "--model-version", version]) == 0
        capsys.readouterr()

    return train_and_register


def test_disabled_without_a_tracking_uri():
    refresher = make_refresher(None)
    refresher.start()
    assert refresher.status == "disabled" and refresher._thread is None
    assert refresher.model.source == "file"


def test_closed_port_is_unreachable_fast_and_warns_once(caplog):
    refresher = make_refresher(CLOSED_PORT_URI)
    assert refresher.status == "unreachable"  # before any lookup: nothing confirmed yet
    started = time.monotonic()
    for _ in range(3):
        refresher.refresh()
    assert time.monotonic() - started < 10
    assert refresher.status == "unreachable" and refresher.model.source == "file"
    assert events(caplog) == [("WARNING", "mlflow_unreachable")]
    record = next(r for r in caplog.records if r.name == "churn.tracking")
    assert record.tracking_uri == CLOSED_PORT_URI and "127.0.0.1" in record.error


def test_missing_model_is_ok_but_warned_once(mlflow_uri, caplog):
    refresher = make_refresher(mlflow_uri)
    refresher.refresh()
    refresher.refresh()
    assert refresher.status == "ok" and refresher.model.source == "file"
    assert events(caplog) == [("WARNING", "mlflow_model_not_found")]


def test_switches_to_each_new_registered_version(registry, mlflow_uri, caplog):
    refresher = make_refresher(mlflow_uri)
    registry("1.0.0")
    refresher.refresh()
    assert (refresher.model.source, refresher.model.version) == ("mlflow", "1")
    refresher.refresh()  # same version: no reload, no new log line
    registry("1.1.0")
    refresher.refresh()
    assert refresher.model.version == "2" and refresher.model.metadata["model_version"] == "1.1.0"
    assert events(caplog) == [("INFO", "model_switched"), ("INFO", "model_switched")]


def test_background_thread_picks_up_the_model(registry, mlflow_uri):
    registry()
    refresher = make_refresher(mlflow_uri, refresh_seconds=1)
    refresher.start()
    try:
        deadline = time.monotonic() + 20
        while refresher.model.source != "mlflow" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (refresher.model.source, refresher.status) == ("mlflow", "ok")
    finally:
        refresher.stop()
    assert not refresher._thread.is_alive()


def test_unloadable_version_is_warned_and_the_old_model_kept(tmp_path, registry, mlflow_uri,
                                                            caplog):
    registry()
    refresher = make_refresher(mlflow_uri)
    refresher.refresh()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "churn-model.joblib").write_bytes(b"not a pickle")
    (broken / "churn-model.json").write_text('{"schema": {"features": []}}')
    config = Config(mlflow_tracking_uri=mlflow_uri)
    log_to_mlflow(config=config, metadata={"model_version": "bad", "algorithm": "?", "rows": 0,
                                           "seed": 0, "threshold": 0.5, "metrics": {}},
                  files=[broken / "churn-model.joblib", broken / "churn-model.json"])
    refresher.refresh()
    refresher.refresh()
    assert (refresher.model.source, refresher.model.version) == ("mlflow", "1")
    assert events(caplog) == [("INFO", "model_switched"), ("WARNING", "mlflow_model_load_failed")]
