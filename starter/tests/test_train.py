"""Training: deterministic metrics, the committed model matches a retrain, the CLI and MLflow
(the order of the MLflow calls here; the calls against a real server in tests/integration)."""

import json

import pytest

from churn import train as train_module
from churn.config import DEFAULT_MODEL_PATH, Config
from churn.mlflow_rest import MlflowError
from churn.model import load_model
from churn.train import log_to_mlflow, main, train


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


class RecordingClient:
    """Stand-in for MlflowRestClient that records calls; `fail_on` names a method that raises."""

    def __init__(self, fail_on=None):
        self.calls, self.fail_on = [], fail_on

    def __getattr__(self, method):
        def call(*args, **kwargs):
            self.calls.append((method, args, kwargs))
            if method == self.fail_on:
                raise MlflowError(f"{method} failed")
            return {"get_or_create_experiment": "7",
                    "create_run": {"run_id": "r1", "artifact_uri": "mlflow-artifacts:/7/r1/artifacts"},
                    "create_model_version": {"version": "4"}}.get(method)
        return call


def test_log_to_mlflow_logs_registers_then_aliases(tmp_path):
    _, metadata = train(rows=300)
    files = [tmp_path / "churn-model.joblib", tmp_path / "churn-model.json"]
    client = RecordingClient()
    result = log_to_mlflow(config=Config(mlflow_tracking_uri="http://mlflow:5000"), metadata=metadata,
                           files=files, client=client)
    assert result == {"run_id": "r1", "registered_model": "churn-model", "registered_version": "4",
                      "alias": "production"}
    assert [c[0] for c in client.calls] == [
        "get_or_create_experiment", "create_run", "log_batch", "upload_artifact", "upload_artifact",
        "end_run", "create_registered_model", "create_model_version", "set_registered_model_alias"]
    calls = {method: (args, kwargs) for method, args, kwargs in client.calls}
    assert calls["log_batch"][1]["params"]["test_size"] == train_module.TEST_SIZE
    assert calls["log_batch"][1]["metrics"] == metadata["metrics"]
    assert calls["end_run"][0] == ("r1", "FINISHED")
    assert calls["create_model_version"][1]["source"] == "mlflow-artifacts:/7/r1/artifacts/model"
    assert calls["set_registered_model_alias"][0] == ("churn-model", "production", "4")


def test_a_failed_upload_marks_the_run_failed_and_registers_nothing(tmp_path):
    _, metadata = train(rows=300)
    client = RecordingClient(fail_on="upload_artifact")
    with pytest.raises(MlflowError, match="upload_artifact failed"):
        log_to_mlflow(config=Config(mlflow_tracking_uri="http://mlflow:5000"), metadata=metadata,
                      files=[tmp_path / "churn-model.joblib"], client=client)
    assert [c[0] for c in client.calls][-2:] == ["upload_artifact", "end_run"]
    assert client.calls[-1][1] == ("r1", "FAILED")


def test_a_tracking_uri_that_is_not_http_exits_1_naming_the_fix(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "mlflow:5000")
    assert main(["--output-dir", str(tmp_path), "--rows", "300"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: MLflow at mlflow:5000 failed: ") and "http://mlflow:5000" in err
