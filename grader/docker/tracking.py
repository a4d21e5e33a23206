"""MLflow's REST API, called the way the student's own code would: from inside the API container of the
stack, at the tracking URI the API container sees (MLflow REST API 2.0: experiments, runs, params,
metrics, `artifacts/list`; the artifact proxy `mlflow-artifacts` for served artifacts)."""

from __future__ import annotations

import json
import logging
import posixpath
import time
import urllib.parse

from grader.errors import ResourceError
from grader.resources import provides

log = logging.getLogger(__name__)

METRIC, METRIC_VALUE = "grader_metric", 0.42
PARAM, PARAM_VALUE = "grader_param", "logged-through-the-stack"
ARTIFACT = "model/grader-model.json"     # where training logs the model: the run's `model/` folder
ARTIFACT_BODY = b'{"model": "planted by the grader"}\n'
ATTEMPTS = 3
CALL_TIMEOUT_S = 30  # MLflow starts its job runner after turning healthy: slow for a while on small machines
TRANSIENT = ("RemoteDisconnected", "Connection reset", "timed out", "BadStatusLine", "IncompleteRead")


def short(text: str | None, limit: int = 300) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def call(stack, path: str, payload: dict | None = None, *, method: str = "POST", body: bytes | None = None,
         headers: dict | None = None) -> tuple[int | None, dict, str]:
    """A request to `<tracking URI>/<path>` from inside the API container: (status, JSON body, text).

    A dropped connection is asked again (ATTEMPTS); no answer at all while the MLflow service has
    died raises ResourceError saying so (blamed on 7.stack-healthy), not a misleading DNS story.
    """
    uri = stack.tracking_uri
    if not uri:
        raise ResourceError(f"MLFLOW_TRACKING_URI is not set in the API container ({stack.model.mlapp})",
                            blame="6.tracking-uri")
    url = f"{uri.rstrip('/')}/{path}"
    if method == "GET" and payload:
        url += "?" + urllib.parse.urlencode(payload, doseq=True)
        payload = None
    for attempt in range(ATTEMPTS):
        answer = stack.service("mlapp", serving=False).http(url, method=method, payload=payload, body=body,
                                                           headers=headers, timeout=CALL_TIMEOUT_S)
        # A dropped connection on a busy machine is not the student's fault: ask again. Any HTTP
        # answer, or a name that does not resolve, is final.
        if answer.get("status") is not None or not any(t in (answer.get("error") or "") for t in TRANSIENT):
            break
        log.info("MLflow call %s failed (%s), attempt %d", path, answer.get("error"), attempt + 1)
        time.sleep(2)
    if answer.get("status") != 200 and "mlflow" in stack.roles:
        stack.check_alive("mlflow")  # raises with the exit code and log lines when MLflow died or restarted
    text = answer.get("body") or answer.get("error") or ""
    try:
        data = json.loads(answer.get("body") or "{}")
    except ValueError:
        data = {}
    return answer.get("status"), data if isinstance(data, dict) else {}, text


def mlflow_call(stack, endpoint: str, payload: dict | None = None, *, method: str = "POST") -> tuple[int | None, dict, str]:
    """call() of the tracking API: `endpoint` is relative to /api/2.0/mlflow/."""
    return call(stack, f"api/2.0/mlflow/{endpoint}", payload, method=method)


def explain_unreachable(uri: str, status: int | None, text: str) -> str:
    """Why a call to MLflow failed, in words a student can act on."""
    host = urllib.parse.urlparse(uri).netloc
    if status == 403:
        return (f"MLflow answered 403: it rejected the Host header `{host}`. MLflow >= 3.5 only accepts "
                f"allow-listed hosts; start it with `--allowed-hosts` (or MLFLOW_SERVER_ALLOWED_HOSTS) "
                f"listing `{host}` (its /health still answers, which is why the healthcheck passed)")
    lowered = text.lower()
    if "name or service not known" in lowered or "nodename nor servname" in lowered or "name resolution" in lowered:
        return f"the name in `{uri}` does not resolve inside the API container (use the MLflow service name)"
    if "connection refused" in lowered:
        return f"nothing listens at `{host}`: MLflow is not running there, or listens on another port"
    if "timed out" in lowered:
        return f"`{host}` did not answer in time"
    return f"the call answered {status or 'nothing'}"


WRITE_LOCAL = r"""
import json, os
path, body = PATH, BODY
try:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(body)
    print(json.dumps({"ok": True}))
except OSError as exc:
    print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}))
"""


def upload_artifact(stack, artifact_uri: str) -> dict:
    """Log ARTIFACT the way an MLflow client does for this artifact URI.

    `mlflow-artifacts:/...` (served artifacts): PUT through the server's artifact proxy. A local
    path (`/...`, `file://...`): the client writes it to its OWN filesystem, here the API container
    (that is what MLflow clients do, and why such a server loses artifacts). Returns {"how", "where",
    "error"}.
    """
    parsed = urllib.parse.urlparse(artifact_uri)
    if parsed.scheme == "mlflow-artifacts":
        path = posixpath.join(parsed.path.lstrip("/"), ARTIFACT)
        status, _, text = call(stack, f"api/2.0/mlflow-artifacts/artifacts/{path}", method="PUT",
                               body=ARTIFACT_BODY, headers={"Content-Type": "application/octet-stream"})
        error = None if status == 200 else f"PUT {path} answered {status}: {short(text)}"
        return {"how": "served", "where": f"the MLflow server ({artifact_uri}/{ARTIFACT})", "error": error}
    if parsed.scheme in ("", "file"):
        local = posixpath.join(parsed.path, ARTIFACT)
        api = stack.service("mlapp", serving=False)
        rc, out = api.exec_python(f"PATH = {local!r}\nBODY = {ARTIFACT_BODY!r}\n" + WRITE_LOCAL)
        try:
            result = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            result = {"ok": False, "error": short(out)}
        where = f"{local} on the API container's own filesystem (`{stack.model.mlapp}`)"
        return {"how": "client-filesystem", "where": where, "error": None if result["ok"] else result["error"]}
    return {"how": "unsupported", "where": artifact_uri,
            "error": f"the run's artifact URI `{artifact_uri}` is not one the grader can write to"}


def log_run(ctx, stack) -> dict:
    """Log a run as training does: experiment grader-<run id>, a run with a parameter, a metric and an
    artifact under `model/`, then FINISHED; ResourceError when MLflow refuses a step."""
    name = f"grader-{ctx.run_id}"
    status, data, text = mlflow_call(stack, "experiments/create", {"name": name})
    if status != 200:
        status, data, text = mlflow_call(stack, "experiments/get-by-name", {"experiment_name": name}, method="GET")
        data = {"experiment_id": (data.get("experiment") or {}).get("experiment_id")}
    experiment_id = data.get("experiment_id")
    if status != 200 or not experiment_id:
        raise ResourceError(f"could not create the experiment {name}: "
                            f"{explain_unreachable(stack.tracking_uri, status, text)}", blame="7.api-reaches-mlflow",
                            details=short(text, 1000))
    now = int(time.time() * 1000)
    status, data, text = mlflow_call(stack, "runs/create", {"experiment_id": experiment_id, "start_time": now,
                                                            "run_name": "grader"})
    info = (data.get("run") or {}).get("info") or {}
    run_id = info.get("run_id")
    if status != 200 or not run_id:
        raise ResourceError(f"could not create a run: {status}: {short(text)}", details=short(text, 1000))
    steps = (("runs/log-parameter", {"run_id": run_id, "key": PARAM, "value": PARAM_VALUE}),
             ("runs/log-metric", {"run_id": run_id, "key": METRIC, "value": METRIC_VALUE, "timestamp": now,
                                  "step": 0}))
    for endpoint, payload in steps:
        status, _, text = mlflow_call(stack, endpoint, payload)
        if status != 200:
            raise ResourceError(f"{endpoint} answered {status}: {short(text)}", details=short(text, 1000))
    artifact = upload_artifact(stack, info.get("artifact_uri") or "")
    status, _, text = mlflow_call(stack, "runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": now + 1})
    if status != 200:
        raise ResourceError(f"runs/update answered {status}: {short(text)}", details=short(text, 1000))
    return {"experiment": name, "experiment_id": experiment_id, "run_id": run_id,
            "artifact_uri": info.get("artifact_uri"), "artifact": artifact}


def read_back(stack, logged: dict) -> tuple[list[str], list[str]]:
    """What MLflow itself says of the logged run: (found, missing), each a list of phrases."""
    found, missing = [], []
    status, data, text = mlflow_call(stack, "runs/search", {"experiment_ids": [logged["experiment_id"]],
                                                            "max_results": 50})
    if status != 200:
        return found, [f"runs/search answered {status}: {short(text)}"]
    run = next((r for r in data.get("runs") or [] if (r.get("info") or {}).get("run_id") == logged["run_id"]), None)
    if run is None:
        return found, [f"run {logged['run_id']} (runs/search lists {len(data.get('runs') or [])} other runs "
                       f"in experiment {logged['experiment']})"]
    found.append(f"run {logged['run_id']}")
    metrics = {m.get("key"): m.get("value") for m in (run.get("data") or {}).get("metrics") or []}
    params = {p.get("key"): p.get("value") for p in (run.get("data") or {}).get("params") or []}
    (found if metrics.get(METRIC) == METRIC_VALUE else missing).append(f"metric {METRIC}={METRIC_VALUE}")
    (found if params.get(PARAM) == PARAM_VALUE else missing).append(f"parameter {PARAM}")
    folder = posixpath.dirname(ARTIFACT)
    status, data, text = mlflow_call(stack, "artifacts/list", {"run_id": logged["run_id"], "path": folder},
                                     method="GET")
    listed = {posixpath.basename(f.get("path", "")) for f in data.get("files") or []} if status == 200 else set()
    (found if posixpath.basename(ARTIFACT) in listed else missing).append(f"artifact {ARTIFACT}")
    return found, missing


def ui_rejections(stack) -> list[str]:
    """The MLflow UI as a browser opens it, `http://localhost:<published port>`: the Host headers
    MLflow's allow-list rejects (403) for the ports the compose file publishes for MLflow."""
    ports = stack.published_ports("mlflow")
    if not ports:
        return []
    mlflow = stack.service("mlflow")
    rejected = []
    for port in ports:
        host = f"localhost:{port}"
        answer = mlflow.http(mlflow.url("/ajax-api/2.0/mlflow/experiments/search?max_results=1"),
                             headers={"Host": host}, timeout=10)
        if answer.get("status") == 403:
            rejected.append(host)
    return rejected


@provides("mlflow_run", blame="7.logged-visible", depends=("stack",), view_of="stack")
def mlflow_run(ctx) -> dict:
    """A run logged through the stack once per grade, read back by 7.logged-visible and 7.persists."""
    return log_run(ctx, ctx.get("stack"))
