"""Training: deterministic metrics, the committed model matches a retrain, the CLI and MLflow."""

import json

import pytest

from churn import train as train_module
from churn.config import DEFAULT_MODEL_PATH
from churn.model import load_model
from churn.tracking import ModelRefresher
from churn.train import main, train


def test_same_seed_gives_identical_metadata():
    assert train(rows=800, seed=5)[1] == train(rows=800, seed=5)[1]


def test_metrics_are_rounded_and_reasonable():
    metrics = train()[1]["metrics"]
    assert set(metrics) == {"accuracy", "roc_auc", "f1"}
    assert all(round(value, 4) == value for value in metrics.values())
    assert metrics["roc_auc"] > 0.75 and metrics["accuracy"] > 0.7


def test_committed_metadata_matches_a_retrain():
    committed = json.loads(DEFAULT_MODEL_PATH.with_suffix(".json").read_text())
    _, retrained = train(rows=committed["rows"], seed=committed["seed"],
                         model_version=committed["model_version"])
    assert retrained == committed


def test_cli_writes_the_model_and_prints_one_json_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["--output-dir", str(tmp_path), "--rows", "600", "--seed", "3",
                 "--model-version", "2.0.0"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    summary = json.loads(out[0])
    assert summary["model_version"] == "2.0.0" and summary["mlflow"] is None
    assert (summary["rows"], summary["seed"]) == (600, 3)
    model = load_model(tmp_path / "churn-model.joblib")
    assert model.version == "2.0.0" and model.metadata["metrics"] == summary["metrics"]


def test_cli_model_version_from_the_environment(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MODEL_VERSION", "3.1.4")
    assert main(["--output-dir", str(tmp_path), "--rows", "300"]) == 0
    assert json.loads(capsys.readouterr().out)["model_version"] == "3.1.4"


def test_cli_rejects_too_few_rows(capsys):
    with pytest.raises(SystemExit) as excinfo:
        main(["--rows", "5"])
    assert excinfo.value.code == 2
    assert "--rows" in capsys.readouterr().err


def test_cli_bad_environment_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MLFLOW_REFRESH_SECONDS", "often")
    assert main(["--output-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: MLFLOW_REFRESH_SECONDS must be a number >= 1.0, got 'often'")


def test_unreachable_mlflow_exits_1_with_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    assert main(["--output-dir", str(tmp_path), "--rows", "300"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: MLflow at http://127.0.0.1:9 failed: ")
    assert "Traceback" not in captured.err


def test_logs_registers_and_aliases_in_mlflow(tmp_path, capsys, monkeypatch, mlflow_uri):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_uri)
    monkeypatch.setenv("MLFLOW_MODEL_NAME", "churn-test")
    for version in ("1", "2"):
        assert main(["--output-dir", str(tmp_path), "--rows", "300", "--model-version",
                     f"{version}.0.0"]) == 0
        summary = json.loads(capsys.readouterr().out)  # MLflow's "View run" links go to stderr
        assert summary["mlflow"]["registered_model"] == "churn-test"
        assert summary["mlflow"]["registered_version"] == version
        assert summary["mlflow"]["alias"] == "production"

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_uri, registry_uri=mlflow_uri)
    registered = client.get_model_version_by_alias("churn-test", "production")
    assert str(registered.version) == "2" and registered.tags["model_version"] == "2.0.0"
    run = client.get_run(registered.run_id)
    assert run.data.metrics == summary["metrics"]
    assert run.data.params["rows"] == "300" and run.data.params["model_version"] == "2.0.0"
    assert run.data.params["test_size"] == str(train_module.TEST_SIZE)
    assert client.get_experiment(run.info.experiment_id).name == "churn-prediction"

    # The API side reads back what training logged.
    refresher = ModelRefresher(model=load_model(DEFAULT_MODEL_PATH), tracking_uri=mlflow_uri,
                               model_name="churn-test", model_alias="production",
                               refresh_seconds=30)
    refresher.refresh()
    assert (refresher.model.source, refresher.model.version) == ("mlflow", "2")
    assert refresher.model.metadata["model_version"] == "2.0.0"
