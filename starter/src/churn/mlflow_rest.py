"""MLflow's REST API over `requests`: the few calls training and the API make, and nothing else.

Why not the `mlflow` package: the API only looks up one aliased model and downloads two files,
and the MLflow client (`mlflow-skinny` and its dependencies) would add about 100 MB to the image.
Every call below is a documented endpoint of the MLflow tracking server (REST API reference:
https://mlflow.org/docs/latest/api_reference/rest-api.html), so any MLflow 2.x or 3.x server
answers it:

| method | endpoint (under the tracking URI) | used by |
| --- | --- | --- |
| GET  | /api/2.0/mlflow/experiments/get-by-name | `get_or_create_experiment` |
| POST | /api/2.0/mlflow/experiments/create | `get_or_create_experiment` |
| POST | /api/2.0/mlflow/runs/create | `create_run` |
| POST | /api/2.0/mlflow/runs/log-batch | `log_batch` |
| POST | /api/2.0/mlflow/runs/update | `end_run` |
| POST | /api/2.0/mlflow/registered-models/create | `create_registered_model` |
| POST | /api/2.0/mlflow/model-versions/create | `create_model_version` |
| POST | /api/2.0/mlflow/registered-models/alias | `set_registered_model_alias` |
| GET  | /api/2.0/mlflow/registered-models/alias | `get_model_version_by_alias` |
| PUT  | /api/2.0/mlflow-artifacts/artifacts/<path> | `upload_artifact` |
| GET  | /api/2.0/mlflow-artifacts/artifacts/<path> | `download_artifact` |

The two artifact endpoints are MLflow's artifact proxy: they exist when the server runs with
`--serve-artifacts` (the default since MLflow 2.0), and runs then get `mlflow-artifacts:` URIs.
A run whose artifacts live elsewhere (a path on the server, s3://...) cannot be reached through
the server, and this module says so instead of guessing.

Errors: every failure raises `MlflowError`. MLflow answers errors with a JSON body
`{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "..."}`; the code is kept in
`MlflowError.error_code` and the HTTP status in `MlflowError.status`. Both are `None` when the
server could not be reached, did not answer in time, or answered something that is not MLflow's
JSON (a proxy's HTML page, MLflow's plain-text 403 for a Host header it does not allow).
"""

from __future__ import annotations

import posixpath
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import requests

API = "/api/2.0/mlflow"
ARTIFACTS_API = "/api/2.0/mlflow-artifacts/artifacts"
# Statuses worth another try (MLflow's own client retries the same ones): timeouts, rate limits,
# a server restarting behind a proxy.
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Error codes meaning "the server answered, but there is no such experiment, model or alias".
NOT_FOUND_CODES = frozenset({"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"})


class MlflowError(RuntimeError):
    """A failed MLflow call: `error_code` (MLflow's, e.g. "RESOURCE_DOES_NOT_EXIST") and HTTP
    `status` when the server answered with an error, both `None` when it could not be reached."""

    def __init__(self, message: str, *, error_code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.status = status

    @property
    def not_found(self) -> bool:
        """True when the server answered that the thing asked for does not exist (yet)."""
        return self.error_code in NOT_FOUND_CODES


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class MlflowRestClient:
    """A client for one MLflow tracking server.

    `tracking_uri`: the server's http(s) URL, e.g. "http://mlflow:5000" (a path prefix such as
    "https://host/mlflow" is kept). `timeout`: seconds to connect and between bytes of an answer
    (requests' meaning, not a total). `retries`: extra attempts after a connection error, a
    timeout or a transient status (see TRANSIENT_STATUSES), `backoff` seconds apart, doubling.
    Raises ValueError for a tracking URI that is not http or https.
    """

    def __init__(self, tracking_uri: str, *, timeout: float = 5.0, retries: int = 0,
                 backoff: float = 1.0, session: requests.Session | None = None) -> None:
        parts = urlsplit(tracking_uri)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"the MLflow tracking URI must be an http(s) URL such as "
                             f"http://mlflow:5000, got {tracking_uri!r}")
        self.tracking_uri = tracking_uri.rstrip("/")
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.session = session or requests.Session()

    # ---- transport ------------------------------------------------------------------------------

    def _request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One HTTP call with the retry policy; returns a 2xx response or raises MlflowError."""
        what = f"{method} {url}"
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                response = self.session.request(method, url, timeout=self.timeout, **kwargs)
            except requests.RequestException as exc:
                error = MlflowError(f"{what} failed: {type(exc).__name__}: {_short(str(exc))}")
                continue
            if response.ok:
                return response
            error = self._http_error(what, response)
            if response.status_code not in TRANSIENT_STATUSES:
                break
        raise error

    @staticmethod
    def _http_error(what: str, response: requests.Response) -> MlflowError:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and "error_code" in body:
            code = str(body["error_code"])
            return MlflowError(f"{what} answered {response.status_code} {code}: "
                               f"{_short(str(body.get('message', '')))}",
                               error_code=code, status=response.status_code)
        return MlflowError(f"{what} answered {response.status_code}: {_short(response.text)}",
                           status=response.status_code)

    def call(self, method: str, endpoint: str, *, params: dict[str, Any] | None = None,
             body: dict[str, Any] | None = None, key: str | None = None) -> Any:
        """Call `/api/2.0/mlflow/<endpoint>` with query `params` (GET) or a JSON `body` (POST);
        return the decoded JSON object, or its field `key` when given. Raises MlflowError (see
        the module docstring), also when the answer is not a JSON object or lacks `key`."""
        url = f"{self.tracking_uri}{API}/{endpoint}"
        response = self._request(method, url, params=params, json=body)
        try:
            data = response.json() if response.content else {}
        except ValueError:
            data = None
        if not isinstance(data, dict) or (key is not None and key not in data):
            expected = f"MLflow's JSON with {key!r}" if key else "MLflow's JSON"
            raise MlflowError(f"{method} {url} answered {response.status_code} but not with "
                              f"{expected}: {_short(response.text)}")
        return data if key is None else data[key]

    # ---- tracking -------------------------------------------------------------------------------

    def get_or_create_experiment(self, name: str) -> str:
        """The id of the experiment called `name`, created if it does not exist yet."""
        try:
            return self._experiment_id(name)
        except MlflowError as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
        try:
            return str(self.call("POST", "experiments/create", body={"name": name}, key="experiment_id"))
        except MlflowError as exc:  # another job created it in between
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            return self._experiment_id(name)

    def _experiment_id(self, name: str) -> str:
        experiment = self.call("GET", "experiments/get-by-name", params={"experiment_name": name},
                               key="experiment")
        return str(experiment["experiment_id"])

    def create_run(self, experiment_id: str, *, run_name: str,
                   tags: dict[str, str] | None = None) -> dict[str, Any]:
        """Start a run; returns its `info` ({"run_id", "artifact_uri", "status", ...})."""
        tags = {"mlflow.runName": run_name, **(tags or {})}
        run = self.call("POST", "runs/create", key="run", body={
            "experiment_id": experiment_id, "run_name": run_name,
            "start_time": int(time.time() * 1000),
            "tags": [{"key": k, "value": str(v)} for k, v in tags.items()]})
        return run["info"]

    def log_batch(self, run_id: str, *, params: dict[str, Any] | None = None,
                  metrics: dict[str, float] | None = None) -> None:
        """Log params (sent as strings, as MLflow stores them) and metrics (step 0, now) in one call."""
        now = int(time.time() * 1000)
        self.call("POST", "runs/log-batch", body={
            "run_id": run_id,
            "params": [{"key": k, "value": str(v)} for k, v in (params or {}).items()],
            "metrics": [{"key": k, "value": float(v), "timestamp": now, "step": 0}
                        for k, v in (metrics or {}).items()]})

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        """Close a run with `status` FINISHED, FAILED or KILLED (MLflow's RunStatus)."""
        self.call("POST", "runs/update", body={"run_id": run_id, "status": status,
                                               "end_time": int(time.time() * 1000)})

    # ---- artifacts (the server's proxy, `--serve-artifacts`) -------------------------------------

    def artifact_url(self, artifact_uri: str, path: str = "") -> str:
        """The proxy URL of `path` under an `mlflow-artifacts:` URI, as MLflow's client builds it:
        `mlflow-artifacts:/1/abc/artifacts` -> `<tracking URI>/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts`
        (a host in the URI, `mlflow-artifacts://host:port/...`, replaces the tracking URI's).
        Raises MlflowError for any other scheme, and ValueError for a path that climbs out (`..`)."""
        parts = urlsplit(artifact_uri)
        if parts.scheme != "mlflow-artifacts":
            raise MlflowError(f"artifact URI {artifact_uri!r} is not served by the tracking server "
                              f"(expected mlflow-artifacts:/...): start `mlflow server` with "
                              f"--serve-artifacts (and --artifacts-destination)")
        if ".." in path.split("/"):
            raise ValueError(f"artifact path must not contain '..', got {path!r}")
        base = self.tracking_uri
        if parts.netloc:
            tracking = urlsplit(self.tracking_uri)
            base = f"{tracking.scheme}://{parts.netloc}{tracking.path}".rstrip("/")
        full = posixpath.join(parts.path.strip("/"), path.strip("/")).strip("/")
        return f"{base}{ARTIFACTS_API}/{quote(full)}"

    def upload_artifact(self, artifact_uri: str, local_file: Path, artifact_path: str = "") -> None:
        """PUT `local_file` as `<artifact_path>/<its name>` under a run's `artifact_uri`."""
        url = self.artifact_url(artifact_uri, posixpath.join(artifact_path, local_file.name))
        self._request("PUT", url, data=local_file.read_bytes(),
                      headers={"Content-Type": "application/octet-stream"})

    def download_artifact(self, artifact_uri: str, path: str, dest: Path) -> Path:
        """GET the file `path` under `artifact_uri` into the file `dest`; returns `dest`."""
        response = self._request("GET", self.artifact_url(artifact_uri, path), stream=True)
        with response, open(dest, "wb") as out:
            for chunk in response.iter_content(chunk_size=1024 * 1024):
                out.write(chunk)
        return dest

    # ---- model registry ---------------------------------------------------------------------------

    def create_registered_model(self, name: str, *, description: str = "") -> bool:
        """Create the registered model `name`; False (and no error) if it already exists."""
        try:
            self.call("POST", "registered-models/create", body={"name": name, "description": description})
        except MlflowError as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            return False
        return True

    def create_model_version(self, name: str, *, source: str, run_id: str | None = None,
                             tags: dict[str, str] | None = None) -> dict[str, Any]:
        """A new version of `name` whose files are at `source` (an artifact URI, usually under
        the run's); returns the model version ({"version": "3", "source", "run_id", ...})."""
        body: dict[str, Any] = {"name": name, "source": source,
                                "tags": [{"key": k, "value": str(v)} for k, v in (tags or {}).items()]}
        if run_id:
            body["run_id"] = run_id
        return self.call("POST", "model-versions/create", body=body, key="model_version")

    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        """Point `name@alias` at `version` (moving the alias if it pointed elsewhere)."""
        self.call("POST", "registered-models/alias", body={"name": name, "alias": alias,
                                                           "version": str(version)})

    def get_model_version_by_alias(self, name: str, alias: str) -> dict[str, Any]:
        """The model version `name@alias` points at ({"version", "source", "run_id", "tags", ...}).
        Raises MlflowError with `not_found` true when the model or the alias does not exist."""
        return self.call("GET", "registered-models/alias", params={"name": name, "alias": alias},
                         key="model_version")
