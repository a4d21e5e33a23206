"""The REST client's own rules: URLs, errors, retries, JSON. The MLflow calls themselves run
against a real MLflow server in tests/integration/test_mlflow_rest.py."""

import json
import time

import pytest

from churn.mlflow_rest import MlflowError, MlflowRestClient

CLOSED_PORT_URI = "http://127.0.0.1:9"  # the discard port: nothing listens there
JSON = "application/json"


def mlflow_error(code, message="no"):
    return json.dumps({"error_code": code, "message": message}).encode()


@pytest.mark.parametrize("uri", ["mlflow:5000", "file:///tmp/mlruns", "sqlite:///mlflow.db", "http://"])
def test_tracking_uri_must_be_http(uri):
    with pytest.raises(ValueError, match="http"):
        MlflowRestClient(uri)


@pytest.mark.parametrize("tracking, artifact_uri, path, url", [
    ("http://mlflow:5000", "mlflow-artifacts:/1/abc/artifacts/model", "churn-model.joblib",
     "http://mlflow:5000/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/model/churn-model.joblib"),
    ("http://mlflow:5000/", "mlflow-artifacts:/1/abc/artifacts", "",
     "http://mlflow:5000/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts"),
    # A host in the artifact URI wins; a path prefix of the tracking URI is kept (MLflow's rule).
    ("https://example.org/mlflow", "mlflow-artifacts://other:8080/7/r/artifacts", "model/a b.json",
     "https://other:8080/mlflow/api/2.0/mlflow-artifacts/artifacts/7/r/artifacts/model/a%20b.json"),
])
def test_artifact_urls_follow_mlflows_resolution(tracking, artifact_uri, path, url):
    assert MlflowRestClient(tracking).artifact_url(artifact_uri, path) == url


def test_artifacts_not_served_by_the_server_are_refused_with_the_fix():
    client = MlflowRestClient("http://mlflow:5000")
    with pytest.raises(MlflowError, match="--serve-artifacts"):
        client.artifact_url("/mlflow/artifacts/1/abc/artifacts/model", "churn-model.joblib")
    with pytest.raises(ValueError, match=r"\.\."):
        client.artifact_url("mlflow-artifacts:/1/abc/artifacts", "../../etc/passwd")


def test_mlflow_error_json_gives_code_status_and_not_found(canned_server):
    canned_server.answer((404, JSON, mlflow_error("RESOURCE_DOES_NOT_EXIST", "Registered Model "
                                                  "with name=churn-model not found")))
    client = MlflowRestClient(canned_server.url)
    with pytest.raises(MlflowError) as excinfo:
        client.get_model_version_by_alias("churn-model", "production")
    error = excinfo.value
    assert (error.error_code, error.status, error.not_found) == ("RESOURCE_DOES_NOT_EXIST", 404, True)
    assert "name=churn-model not found" in str(error)
    method, path, _, _ = canned_server.requests[0]
    assert (method, path) == ("GET", "/api/2.0/mlflow/registered-models/alias?name=churn-model"
                                     "&alias=production")


def test_a_missing_alias_is_not_found_too(canned_server):
    # MLflow answers 400 INVALID_PARAMETER_VALUE "Registered model alias production not found."
    canned_server.answer((400, JSON, mlflow_error("INVALID_PARAMETER_VALUE", "alias not found")))
    with pytest.raises(MlflowError) as excinfo:
        MlflowRestClient(canned_server.url).get_model_version_by_alias("m", "production")
    assert excinfo.value.not_found


def test_plain_text_errors_keep_status_and_text(canned_server):
    # What MLflow >= 3.5 answers to a Host header it does not allow.
    canned_server.answer((403, "text/plain", b"Invalid Host header - possible DNS rebinding attack"))
    with pytest.raises(MlflowError) as excinfo:
        MlflowRestClient(canned_server.url).call("POST", "experiments/search", body={})
    error = excinfo.value
    assert (error.error_code, error.status, error.not_found) == (None, 403, False)
    assert "403" in str(error) and "Invalid Host header" in str(error)


@pytest.mark.parametrize("body", [b"<html>a proxy page</html>", b"[1, 2]", b'{"other": 1}'])
def test_a_200_that_is_not_mlflows_json_is_an_error(canned_server, body):
    canned_server.answer((200, JSON, body))
    with pytest.raises(MlflowError, match="not with MLflow's JSON"):
        MlflowRestClient(canned_server.url).get_model_version_by_alias("m", "a")


def test_closed_port_fails_fast_without_code_or_status():
    started = time.monotonic()
    with pytest.raises(MlflowError) as excinfo:
        MlflowRestClient(CLOSED_PORT_URI, timeout=2).get_model_version_by_alias("m", "a")
    assert time.monotonic() - started < 5
    assert (excinfo.value.error_code, excinfo.value.status) == (None, None)
    assert "127.0.0.1" in str(excinfo.value)


def test_transient_statuses_are_retried_up_to_the_limit(canned_server):
    version = json.dumps({"model_version": {"version": "3", "source": "mlflow-artifacts:/x"}}).encode()
    canned_server.answer((503, "text/plain", b"restarting"), (200, JSON, version))
    client = MlflowRestClient(canned_server.url, retries=1, backoff=0.01)
    assert client.get_model_version_by_alias("m", "a")["version"] == "3"
    assert len(canned_server.requests) == 2

    canned_server.answer((503, "text/plain", b"restarting"), (200, JSON, version))
    with pytest.raises(MlflowError) as excinfo:
        MlflowRestClient(canned_server.url, retries=0).get_model_version_by_alias("m", "a")
    assert excinfo.value.status == 503


def test_client_errors_are_not_retried(canned_server):
    canned_server.answer((400, JSON, mlflow_error("INVALID_PARAMETER_VALUE")))
    with pytest.raises(MlflowError):
        MlflowRestClient(canned_server.url, retries=3, backoff=0.01).call("GET", "experiments/get")
    assert len(canned_server.requests) == 1


def test_an_existing_registered_model_is_not_an_error(canned_server):
    canned_server.answer((400, JSON, mlflow_error("RESOURCE_ALREADY_EXISTS")))
    assert MlflowRestClient(canned_server.url).create_registered_model("m") is False


def test_upload_puts_the_file_bytes_at_the_artifact_path(canned_server, tmp_path):
    local = tmp_path / "churn-model.json"
    local.write_bytes(b'{"a": 1}')
    MlflowRestClient(canned_server.url).upload_artifact("mlflow-artifacts:/1/abc/artifacts", local, "model")
    method, path, headers, body = canned_server.requests[0]
    assert (method, path, body) == ("PUT", "/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/model/"
                                           "churn-model.json", b'{"a": 1}')
    assert headers["Content-Type"] == "application/octet-stream"
