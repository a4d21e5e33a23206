"""The MLflow refresher's states: switch, not found, unreachable, bad model, each logged once.

The registry here is a stand-in object with the two methods the refresher calls (the state logic
is what is tested); the same flows run against a real MLflow server in
tests/integration/test_mlflow_rest.py."""

import logging
import shutil
import time

import pytest

from churn.config import DEFAULT_MODEL_PATH
from churn.mlflow_rest import MlflowError
from churn.model import load_model, save_model
from churn.tracking import ModelRefresher
from churn.train import train

CLOSED_PORT_URI = "http://127.0.0.1:9"  # the discard port: nothing listens there


class Registry:
    """Stand-in for MlflowRestClient: `aliases` maps an alias to (version, folder of its files)."""

    def __init__(self):
        self.aliases = {}
        self.down = False
        self.lookups = 0

    def get_model_version_by_alias(self, name, alias):
        self.lookups += 1
        if self.down:
            raise MlflowError("GET http://mlflow:5000/... failed: ConnectionError: refused")
        if alias not in self.aliases:
            raise MlflowError("answered 400 INVALID_PARAMETER_VALUE: Registered model alias "
                              f"{alias} not found.", error_code="INVALID_PARAMETER_VALUE", status=400)
        version, folder = self.aliases[alias]
        return {"version": version, "source": str(folder)}

    def download_artifact(self, source, path, dest):
        shutil.copy(f"{source}/{path}", dest)
        return dest


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Model folders as churn.train writes them: version "1.0.0" and "1.1.0"."""
    folders = {}
    for version in ("1.0.0", "1.1.0"):
        pipeline, metadata = train(rows=300, model_version=version)
        folders[version] = tmp_path_factory.mktemp(version)
        save_model(pipeline, metadata, folders[version])
    return folders


def make_refresher(uri="http://mlflow:5000", client=None, refresh_seconds=30.0):
    return ModelRefresher(model=load_model(DEFAULT_MODEL_PATH), tracking_uri=uri,
                          model_name="churn-model", model_alias="production",
                          refresh_seconds=refresh_seconds, client=client)


@pytest.fixture(autouse=True)
def _capture_info(caplog):
    caplog.set_level(logging.INFO, logger="churn.tracking")


def events(caplog):
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "churn.tracking"]


def test_disabled_without_a_tracking_uri():
    refresher = make_refresher(None)
    refresher.start()
    assert refresher.status == "disabled" and refresher._thread is None
    assert refresher.model.source == "file"


def test_closed_port_is_unreachable_fast_and_warns_once(caplog):
    refresher = make_refresher(CLOSED_PORT_URI)  # the real REST client, a real refused connection
    assert refresher.status == "unreachable"  # before any lookup: nothing confirmed yet
    started = time.monotonic()
    for _ in range(3):
        refresher.refresh()
    assert time.monotonic() - started < 10
    assert refresher.status == "unreachable" and refresher.model.source == "file"
    assert events(caplog) == [("WARNING", "mlflow_unreachable")]
    record = next(r for r in caplog.records if r.name == "churn.tracking")
    assert record.tracking_uri == CLOSED_PORT_URI and "127.0.0.1" in record.error


def test_a_tracking_uri_that_is_not_http_is_reported_not_raised(caplog):
    refresher = make_refresher("mlflow:5000")
    refresher.refresh()
    assert refresher.status == "unreachable"
    record = next(r for r in caplog.records if r.name == "churn.tracking")
    assert record.getMessage() == "mlflow_unreachable" and "http" in record.error


def test_missing_model_is_ok_but_warned_once(caplog):
    refresher = make_refresher(client=Registry())
    refresher.refresh()
    refresher.refresh()
    assert refresher.status == "ok" and refresher.model.source == "file"
    assert events(caplog) == [("WARNING", "mlflow_model_not_found")]


def test_switches_to_each_new_registered_version(trained, caplog):
    registry = Registry()
    refresher = make_refresher(client=registry)
    registry.aliases["production"] = ("1", trained["1.0.0"])
    refresher.refresh()
    assert (refresher.model.source, refresher.model.version) == ("mlflow", "1")
    refresher.refresh()  # same version: no reload, no new log line
    registry.aliases["production"] = ("2", trained["1.1.0"])
    refresher.refresh()
    assert refresher.model.version == "2" and refresher.model.metadata["model_version"] == "1.1.0"
    assert events(caplog) == [("INFO", "model_switched"), ("INFO", "model_switched")]


def test_outage_and_recovery_are_each_logged_once_and_the_model_kept(trained, caplog):
    registry = Registry()
    registry.aliases["production"] = ("1", trained["1.0.0"])
    refresher = make_refresher(client=registry)
    refresher.refresh()
    registry.down = True
    for _ in range(3):
        refresher.refresh()
    assert (refresher.status, refresher.model.source, refresher.model.version) == ("unreachable", "mlflow", "1")
    registry.down = False
    refresher.refresh()
    refresher.refresh()
    assert refresher.status == "ok"
    assert events(caplog) == [("INFO", "model_switched"), ("WARNING", "mlflow_unreachable"),
                              ("INFO", "mlflow_ok")]


def test_background_thread_picks_up_the_model(trained):
    registry = Registry()
    registry.aliases["production"] = ("1", trained["1.0.0"])
    refresher = make_refresher(client=registry, refresh_seconds=1)
    refresher.start()
    try:
        deadline = time.monotonic() + 20
        while refresher.model.source != "mlflow" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (refresher.model.source, refresher.status) == ("mlflow", "ok")
    finally:
        refresher.stop()
    assert not refresher._thread.is_alive()


def test_unloadable_version_is_warned_once_and_the_old_model_kept(tmp_path, trained, caplog):
    registry = Registry()
    registry.aliases["production"] = ("1", trained["1.0.0"])
    refresher = make_refresher(client=registry)
    refresher.refresh()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "churn-model.joblib").write_bytes(b"not a pickle")
    (broken / "churn-model.json").write_text('{"schema": {"features": []}}')
    registry.aliases["production"] = ("2", broken)
    refresher.refresh()
    refresher.refresh()
    registry.aliases["production"] = ("3", tmp_path / "no-such-folder")  # files missing
    refresher.refresh()
    assert (refresher.model.source, refresher.model.version) == ("mlflow", "1")
    assert events(caplog) == [("INFO", "model_switched"), ("WARNING", "mlflow_model_load_failed"),
                              ("WARNING", "mlflow_model_load_failed")]
