"""MLflow's REST API, called the way the student's API would: from inside the API container of the
stack, at the tracking URI the API container sees (2.0 tracking API: experiments, runs, metrics)."""

from __future__ import annotations

import json
import logging
import time
import urllib.parse

from grader.errors import ResourceError
from grader.resources import provides

log = logging.getLogger(__name__)

METRIC = "grader_metric"
ATTEMPTS = 3
CALL_TIMEOUT_S = 30  # MLflow starts its job runner after turning healthy: slow for a while on small machines
TRANSIENT = ("RemoteDisconnected", "Connection reset", "timed out", "BadStatusLine", "IncompleteRead")


def short(text: str | None, limit: int = 300) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def mlflow_call(stack, endpoint: str, payload: dict | None = None, *, method: str = "POST") -> tuple[int | None, dict, str]:
    """Call MLflow's REST API at the tracking URI from inside the API container: (status, json, text)."""
    uri = stack.tracking_uri
    if not uri:
        raise ResourceError(f"MLFLOW_TRACKING_URI is not set in the API container ({stack.model.mlapp})",
                            blame="6.tracking-uri")
    url = f"{uri.rstrip('/')}/api/2.0/mlflow/{endpoint}"
    if method == "GET" and payload:
        url += "?" + urllib.parse.urlencode(payload)
        payload = None
    for attempt in range(ATTEMPTS):
        answer = stack.service("mlapp", serving=False).http(url, method=method, payload=payload,
                                                           timeout=CALL_TIMEOUT_S)
        # A dropped connection on a busy machine is not the student's fault: ask again. Any HTTP
        # answer, or a name that does not resolve, is final.
        if answer.get("status") is not None or not any(t in (answer.get("error") or "") for t in TRANSIENT):
            break
        log.info("MLflow call %s failed (%s), attempt %d", endpoint, answer.get("error"), attempt + 1)
        time.sleep(2)
    text = answer.get("body") or answer.get("error") or ""
    try:
        data = json.loads(answer.get("body") or "{}")
    except ValueError:
        data = {}
    return answer.get("status"), data if isinstance(data, dict) else {}, text


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


def log_run(ctx, stack) -> dict:
    """Create experiment grader-<run>, a run and a metric through the REST API; their ids."""
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
    run_id = ((data.get("run") or {}).get("info") or {}).get("run_id")
    if status != 200 or not run_id:
        raise ResourceError(f"could not create a run: {status}: {short(text)}", details=short(text, 1000))
    steps = (("runs/log-metric", {"run_id": run_id, "key": METRIC, "value": 0.42, "timestamp": now, "step": 0}),
             ("runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": now + 1}))
    for endpoint, payload in steps:
        status, _, text = mlflow_call(stack, endpoint, payload)
        if status != 200:
            raise ResourceError(f"{endpoint} answered {status}: {short(text)}", details=short(text, 1000))
    return {"experiment": name, "experiment_id": experiment_id, "run_id": run_id}


def find_run(stack, logged: dict) -> tuple[bool, str]:
    """Search the experiment for the run and its metric; (found, what was seen)."""
    status, data, text = mlflow_call(stack, "runs/search", {"experiment_ids": [logged["experiment_id"]],
                                                            "max_results": 50})
    if status != 200:
        return False, f"runs/search answered {status}: {short(text)}"
    for run in data.get("runs") or []:
        if (run.get("info") or {}).get("run_id") == logged["run_id"]:
            metrics = {m.get("key"): m.get("value") for m in (run.get("data") or {}).get("metrics") or []}
            if metrics.get(METRIC) == 0.42:
                return True, f"run {logged['run_id']} with {METRIC}=0.42"
            return False, f"run {logged['run_id']} without its metric (metrics: {metrics})"
    return False, f"{len(data.get('runs') or [])} runs in experiment {logged['experiment']}, not {logged['run_id']}"


@provides("mlflow_run", blame="7.logged-visible", depends=("stack",))
def mlflow_run(ctx) -> dict:
    """A run logged through the stack once per grade, read back by 7.logged-visible and 7.persists."""
    return log_run(ctx, ctx.get("stack"))
