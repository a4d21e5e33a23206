"""churn.mlflow_rest, churn.train and churn.tracking against the reference stack's real MLflow server
(from the host, on its published loopback port): what training logs is there, the alias moves,
the refresher switches, and MLflow's own errors map to the documented states."""

from __future__ import annotations

import logging
import uuid

import pytest
import requests

from churn.config import DEFAULT_MODEL_PATH, Config
from churn.mlflow_rest import MlflowError, MlflowRestClient
from churn.model import load_model, save_model
from churn.tracking import ModelRefresher
from churn.train import log_to_mlflow, train

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def mlflow_url(reference_stack) -> str:
    return reference_stack.url("mlflow", "").rstrip("/")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    """Model files as churn.train writes them, for versions 1.0.0 and 1.1.0."""
    out = {}
    for version in ("1.0.0", "1.1.0"):
        pipeline, metadata = train(rows=300, model_version=version)
        folder = tmp_path_factory.mktemp(f"model-{version}")
        out[version] = (metadata, list(save_model(pipeline, metadata, folder)))
    return out


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def rest(mlflow_url: str, endpoint: str, **params) -> dict:
    """A plain GET on MLflow's REST API, independent of the client under test."""
    response = requests.get(f"{mlflow_url}/api/2.0/{endpoint}", params=params, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def refresher_for(mlflow_url: str, name: str, alias: str = "production") -> ModelRefresher:
    return ModelRefresher(model=load_model(DEFAULT_MODEL_PATH), tracking_uri=mlflow_url,
                          model_name=name, model_alias=alias, refresh_seconds=30)


def test_training_logs_params_metrics_files_and_registers_with_an_alias(mlflow_url, trained):
    name, experiment = unique("rest-model"), unique("rest-experiment")
    config = Config(mlflow_tracking_uri=mlflow_url, mlflow_model_name=name,
                    mlflow_experiment_name=experiment)
    metadata, files = trained["1.0.0"]
    first = log_to_mlflow(config=config, metadata=metadata, files=files)
    assert (first["registered_model"], first["registered_version"], first["alias"]) == (name, "1", "production")

    run = rest(mlflow_url, "mlflow/runs/get", run_id=first["run_id"])["run"]
    assert run["info"]["status"] == "FINISHED" and run["info"]["run_name"] == "churn-1.0.0"
    params = {p["key"]: p["value"] for p in run["data"]["params"]}
    assert params == {"model_version": "1.0.0", "algorithm": "LogisticRegression", "rows": "300",
                      "seed": "42", "threshold": "0.5", "test_size": "0.2"}
    assert {m["key"]: m["value"] for m in run["data"]["metrics"]} == metadata["metrics"]
    got = rest(mlflow_url, "mlflow/experiments/get", experiment_id=run["info"]["experiment_id"])
    assert got["experiment"]["name"] == experiment

    # The files went through the artifact proxy, byte for byte.
    root = run["info"]["artifact_uri"].removeprefix("mlflow-artifacts:").strip("/")
    listed = rest(mlflow_url, "mlflow-artifacts/artifacts", path=f"{root}/model")["files"]
    assert {f["path"]: int(f["file_size"]) for f in listed} == {f.name: f.stat().st_size for f in files}

    version = rest(mlflow_url, "mlflow/registered-models/alias", name=name, alias="production")["model_version"]
    assert version["version"] == "1" and version["run_id"] == first["run_id"]
    assert version["source"] == f"{run['info']['artifact_uri']}/model"
    assert {t["key"]: t["value"] for t in version.get("tags", [])} == {"model_version": "1.0.0"}

    # A second training: same experiment and model, version 2, the alias moves.
    metadata2, files2 = trained["1.1.0"]
    second = log_to_mlflow(config=config, metadata=metadata2, files=files2)
    assert second["registered_version"] == "2"
    moved = rest(mlflow_url, "mlflow/registered-models/alias", name=name, alias="production")
    assert moved["model_version"]["version"] == "2"


def test_refresher_follows_the_alias_on_the_real_server(mlflow_url, trained, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="churn.tracking")
    name = unique("rest-refresh")
    config = Config(mlflow_tracking_uri=mlflow_url, mlflow_model_name=name)
    refresher = refresher_for(mlflow_url, name)
    refresher.refresh()  # no such model yet: the server answers, so MLflow is "ok"
    assert (refresher.status, refresher.model.source) == ("ok", "file")

    log_to_mlflow(config=config, metadata=trained["1.0.0"][0], files=trained["1.0.0"][1])
    refresher.refresh()
    assert (refresher.model.source, refresher.model.version) == ("mlflow", "1")
    assert refresher.model.metadata["model_version"] == "1.0.0"
    refresher.refresh()  # same version: nothing new

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "churn-model.joblib").write_bytes(b"not a pickle")
    (broken / "churn-model.json").write_text('{"schema": {"features": []}}')
    log_to_mlflow(config=config, metadata={**trained["1.0.0"][0], "model_version": "bad"},
                  files=[broken / "churn-model.joblib", broken / "churn-model.json"])
    refresher.refresh()
    refresher.refresh()
    assert (refresher.model.source, refresher.model.version) == ("mlflow", "1")  # kept the good one

    log_to_mlflow(config=config, metadata=trained["1.1.0"][0], files=trained["1.1.0"][1])
    refresher.refresh()
    assert (refresher.model.version, refresher.model.metadata["model_version"]) == ("3", "1.1.0")
    events = [r.getMessage() for r in caplog.records if r.name == "churn.tracking"]
    assert events == ["mlflow_model_not_found", "model_switched", "mlflow_model_load_failed",
                      "model_switched"]


def test_missing_model_and_alias_are_not_found(mlflow_url, trained):
    client = MlflowRestClient(mlflow_url)
    with pytest.raises(MlflowError) as missing_model:
        client.get_model_version_by_alias(unique("no-such-model"), "production")
    assert (missing_model.value.error_code, missing_model.value.status) == ("RESOURCE_DOES_NOT_EXIST", 404)

    name = unique("rest-alias")
    log_to_mlflow(config=Config(mlflow_tracking_uri=mlflow_url, mlflow_model_name=name),
                  metadata=trained["1.0.0"][0], files=trained["1.0.0"][1])
    with pytest.raises(MlflowError) as missing_alias:
        client.get_model_version_by_alias(name, "staging")
    assert missing_alias.value.not_found and missing_alias.value.status == 400


def test_a_host_header_mlflow_rejects_is_unreachable_with_the_403(mlflow_url, caplog):
    caplog.set_level(logging.INFO, logger="churn.tracking")
    session = requests.Session()
    session.headers["Host"] = "not-allowed:5000"  # as if MLflow's --allowed-hosts missed our name
    refresher = ModelRefresher(model=load_model(DEFAULT_MODEL_PATH), tracking_uri=mlflow_url,
                               model_name="churn-model", model_alias="production", refresh_seconds=30,
                               client=MlflowRestClient(mlflow_url, session=session))
    refresher.refresh()
    assert refresher.status == "unreachable"
    [record] = [r for r in caplog.records if r.name == "churn.tracking"]
    assert record.getMessage() == "mlflow_unreachable" and "403" in record.error


def test_experiments_are_created_once(mlflow_url):
    client = MlflowRestClient(mlflow_url)
    name = unique("rest-once")
    assert client.get_or_create_experiment(name) == client.get_or_create_experiment(name)
