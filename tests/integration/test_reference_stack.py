"""End to end: the reference stack serves, talks to MLflow by name, registers, persists (down/up and
kill -9), degrades."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.integration.conftest import wait_until

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def exec_in(stack, service: str, code: str) -> str:
    return subprocess.run(
        ["docker", "exec", stack.container_id(service), "python", "-c", code],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout


def test_health_answers_on_the_published_port(reference_stack, http):
    response = http.get(reference_stack.url("mlapp", "/health"), timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["model_version"]


def test_predict_scores_one_record_and_a_batch(reference_stack, http, sample_record):
    url = reference_stack.url("mlapp", "/predict")
    one = http.post(url, json=sample_record, timeout=10)
    assert one.status_code == 200, one.text
    assert len(one.json()["predictions"]) == 1
    batch = http.post(url, json=[sample_record] * 3, timeout=10)
    assert batch.status_code == 200 and len(batch.json()["predictions"]) == 3
    prediction = batch.json()["predictions"][0]
    assert isinstance(prediction["churn"], bool) and 0.0 <= prediction["probability"] <= 1.0


BAD_PAYLOADS = {
    "not json": (b"tenure=3", "application/json", 400),
    "empty list": (b"[]", "application/json", 400),
    "wrong top-level type": (b'"hello"', "application/json", 400),
    "NaN": (None, None, 422),
    "missing field": (None, None, 422),
    "unknown field": (None, None, 422),
    "wrong type": (None, None, 422),
    "too many records": (None, None, 413),
    "body too large": (b"[" + b" " * (2 * 1024 * 1024) + b"]", "application/json", 413),
}


@pytest.mark.parametrize("case", list(BAD_PAYLOADS))
def test_malformed_requests_get_a_4xx_with_a_message(reference_stack, http, sample_record, case):
    body, content_type, status = BAD_PAYLOADS[case]
    if body is None:
        record = dict(sample_record)
        if case == "NaN":
            body = json.dumps({**record, "monthly_charges": float("nan")}).encode()
        elif case == "missing field":
            record.pop("tenure_months")
            body = json.dumps(record).encode()
        elif case == "unknown field":
            body = json.dumps({**record, "favourite_colour": "teal"}).encode()
        elif case == "wrong type":
            body = json.dumps({**record, "tenure_months": "ten"}).encode()
        elif case == "too many records":
            body = json.dumps([record] * 5000).encode()
        content_type = "application/json"
    response = http.post(reference_stack.url("mlapp", "/predict"), data=body,
                         headers={"Content-Type": content_type}, timeout=30)
    assert response.status_code == status, response.text
    assert response.json()["error"], "a 4xx must carry a message"
    if case in ("missing field", "wrong type"):
        assert "tenure_months" in response.json()["error"]


def test_api_reaches_mlflow_rest_api_by_service_name(reference_stack):
    # /health would pass even when MLflow rejects the Host header; the REST API does not.
    out = exec_in(reference_stack, "mlapp", (
        "import json, os, urllib.request\n"
        "uri = os.environ['MLFLOW_TRACKING_URI']\n"
        "req = urllib.request.Request(uri + '/api/2.0/mlflow/experiments/search',"
        " data=b'{\"max_results\": 1}', headers={'Content-Type': 'application/json'})\n"
        "print(uri, urllib.request.urlopen(req, timeout=10).status)\n"
    ))
    assert out.split() == ["http://mlflow:5000", "200"]


def test_train_profile_registers_a_model_visible_in_mlflow(reference_stack, http):
    # The job runs in the API image, which has no MLflow package: churn.train talks REST.
    result = reference_stack.compose("--profile", "train", "run", "--rm", "-T", "train", timeout=600)
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    response = http.get(reference_stack.url("mlflow", "/api/2.0/mlflow/registered-models/get"),
                        params={"name": "churn-model"}, timeout=10)
    assert response.status_code == 200, response.text
    model = response.json()["registered_model"]
    assert any(a["alias"] == "production" for a in model.get("aliases", [])), model
    version = http.get(reference_stack.url("mlflow", "/api/2.0/mlflow/registered-models/alias"),
                       params={"name": "churn-model", "alias": "production"}, timeout=10).json()["model_version"]
    assert version["version"] == summary["mlflow"]["registered_version"]
    assert version["run_id"] == summary["mlflow"]["run_id"]
    run = http.get(reference_stack.url("mlflow", "/api/2.0/mlflow/runs/get"),
                   params={"run_id": version["run_id"]}, timeout=10).json()["run"]
    assert {m["key"]: m["value"] for m in run["data"]["metrics"]} == summary["metrics"]


def test_api_switches_to_the_registered_model(reference_stack, http):
    def source():
        body = http.get(reference_stack.url("mlapp", "/health"), timeout=10).json()
        return body if body.get("model_source") == "mlflow" else None

    body = wait_until(source, timeout=90, interval=2)
    assert body, "the API kept serving the baked-in model after a model was registered"
    assert body["mlflow"] == "ok"
    alias = http.get(reference_stack.url("mlflow", "/api/2.0/mlflow/registered-models/alias"),
                     params={"name": "churn-model", "alias": "production"}, timeout=10).json()
    assert body["model_version"] == alias["model_version"]["version"]
    assert exec_in(reference_stack, "mlapp", (
        "import importlib.util; print(importlib.util.find_spec('mlflow') is None)")).strip() == "True"
    logs = reference_stack.compose("logs", "--no-color", "mlapp").stdout
    assert '"event": "model_switched"' in logs


def test_mlflow_data_survives_down_and_up(reference_stack, http):
    reference_stack.compose("down", "--timeout", "10")
    reference_stack.up()
    response = http.get(reference_stack.url("mlflow", "/api/2.0/mlflow/registered-models/get"),
                        params={"name": "churn-model"}, timeout=10)
    assert response.status_code == 200, "the registered model is gone after down/up"


def test_mlflow_data_survives_kill_9_of_its_container(reference_stack, http, tmp_path):
    """SIGKILL, no shutdown: SQLite's journal and the artifact files must still hold what was logged."""
    from churn.mlflow_rest import MlflowRestClient

    client = MlflowRestClient(reference_stack.url("mlflow", "").rstrip("/"), timeout=30)
    experiment_id = client.get_or_create_experiment("kill-9")
    run = client.create_run(experiment_id, run_name="before-kill")
    client.log_batch(run["run_id"], params={"signal": "KILL"}, metrics={"survived": 1.0})
    artifact = tmp_path / "evidence.txt"
    artifact.write_text("written before kill -9\n")
    client.upload_artifact(run["artifact_uri"], artifact, "proof")
    client.end_run(run["run_id"])
    client.create_registered_model("kill-9-model")
    version = client.create_model_version("kill-9-model", source=f"{run['artifact_uri']}/proof",
                                          run_id=run["run_id"])
    client.set_registered_model_alias("kill-9-model", "survivor", version["version"])

    container = reference_stack.container_id("mlflow")
    subprocess.run(["docker", "kill", "--signal", "KILL", container], check=True, capture_output=True,
                   timeout=60)
    exit_code = subprocess.run(["docker", "wait", container], check=True, capture_output=True,
                               text=True, timeout=60).stdout.strip()
    assert exit_code == "137", exit_code  # killed by SIGKILL (128 + 9)
    # Docker counts `docker kill` as a manual stop, so `restart: unless-stopped` leaves it down
    # (checked on Engine 20.10): bring it back as an operator would, same container, same volume.
    reference_stack.up()
    assert reference_stack.container_id("mlflow") == container, "up recreated the container"

    client = MlflowRestClient(reference_stack.url("mlflow", "").rstrip("/"), timeout=30)
    got = http.get(reference_stack.url("mlflow", "/api/2.0/mlflow/runs/get"),
                   params={"run_id": run["run_id"]}, timeout=10).json()["run"]
    assert got["info"]["status"] == "FINISHED"
    assert {p["key"]: p["value"] for p in got["data"]["params"]} == {"signal": "KILL"}
    assert {m["key"]: m["value"] for m in got["data"]["metrics"]} == {"survived": 1.0}
    found = client.get_model_version_by_alias("kill-9-model", "survivor")
    assert (found["version"], found["run_id"]) == (version["version"], run["run_id"])
    copy = client.download_artifact(found["source"], "evidence.txt", tmp_path / "after.txt")
    assert copy.read_text() == "written before kill -9\n"


def test_api_keeps_predicting_while_mlflow_is_down(reference_stack, http, sample_record):
    reference_stack.compose("stop", "mlflow", "--timeout", "10")
    try:
        response = http.post(reference_stack.url("mlapp", "/predict"), json=sample_record, timeout=10)
        assert response.status_code == 200, response.text
        health = wait_until(
            lambda: (b := http.get(reference_stack.url("mlapp", "/health"), timeout=10).json())["mlflow"] == "unreachable" and b,
            timeout=60, interval=2,
        )
        assert health, "the API never noticed MLflow was down"
        logs = reference_stack.compose("logs", "--no-color", "mlapp").stdout
        assert '"level": "WARNING"' in logs or '"level":"WARNING"' in logs
    finally:
        reference_stack.compose("start", "mlflow")
