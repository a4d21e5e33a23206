"""MLflow for the API: a background thread that serves the registry's aliased model when it can."""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from churn.model import MODEL_FILENAME, LoadedModel, load_model

logger = logging.getLogger(__name__)

# Error codes meaning "the server answered, but there is no such model or alias (yet)".
_NOT_FOUND_CODES = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}


def set_mlflow_env(*, timeout: int, max_retries: int, override: bool) -> None:
    """Set MLflow's HTTP client knobs; MLflow reads them from the environment on every request."""
    settings = {
        # MLflow's defaults (120 s timeout, 7 retries with backoff) can stall a caller for minutes.
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(timeout),
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(max_retries),
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
        # Containers often have no route to the internet: no usage pings, no progress bars in logs.
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }
    for name, value in settings.items():
        if override:
            os.environ[name] = value
        else:
            os.environ.setdefault(name, value)


def error_code(exc: BaseException) -> str | None:
    """MLflow's error code ("RESOURCE_DOES_NOT_EXIST", ...) of an exception, if it has one."""
    return getattr(exc, "error_code", None)


def short_error(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ModelRefresher:
    """Holds the model being served and, if MLflow is configured, polls the registry for a new one."""

    def __init__(self, *, model: LoadedModel, tracking_uri: str | None, model_name: str,
                 model_alias: str, refresh_seconds: float) -> None:
        self.model = model  # replaced in one assignment, so request threads never see half a swap
        self.status = "disabled" if tracking_uri is None else "unreachable"  # until the first answer
        self.tracking_uri = tracking_uri
        self.model_name = model_name
        self.model_alias = model_alias
        self.refresh_seconds = refresh_seconds
        self._registry_version: str | None = None  # registry version being served, if any
        self._state: str | None = None  # last state logged, so each change is logged only once
        self._client: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start polling in a daemon thread (first attempt right away); a no-op without MLflow."""
        if self.tracking_uri is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="mlflow-refresher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.refresh()
            self._stop.wait(self.refresh_seconds)

    def refresh(self) -> None:
        """One registry lookup, and a model swap if the alias points at a new version. Never raises."""
        target = f"{self.model_name}@{self.model_alias}"
        try:
            version = self._get_client().get_model_version_by_alias(self.model_name, self.model_alias)
        except Exception as exc:
            if error_code(exc) in _NOT_FOUND_CODES:
                self.status = "ok"
                self._log_change("not_found", logging.WARNING, "mlflow_model_not_found", model=target,
                                 detail=short_error(exc), serving=self.model.version)
            else:
                self.status = "unreachable"
                self._log_change("unreachable", logging.WARNING, "mlflow_unreachable",
                                 tracking_uri=self.tracking_uri, error=short_error(exc),
                                 serving=self.model.version)
            return
        self.status = "ok"
        found = str(version.version)
        if found == self._registry_version:
            self._log_change("ok", logging.INFO, "mlflow_ok", model=target, serving=found)
            return
        try:
            model = self._download(version.source, found)
        except Exception as exc:
            self._log_change(f"load_failed:{found}", logging.WARNING, "mlflow_model_load_failed",
                             model=target, version=found, error=short_error(exc),
                             serving=self.model.version)
            return
        self.model, self._registry_version = model, found
        self._log_change("ok", logging.INFO, "model_switched", model=target, version=found,
                         source="mlflow", force=True)

    def _get_client(self) -> Any:
        if self._client is None:
            # Fail fast and never retry: a slow or dead registry only delays a model switch.
            set_mlflow_env(timeout=5, max_retries=0, override=True)
            os.environ["MLFLOW_CONFIGURE_LOGGING"] = "false"  # MLflow logs go through our JSON root
            from mlflow import MlflowClient  # imported here: slow, and only needed with MLflow on

            self._client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        return self._client

    def _download(self, source: str, version: str) -> LoadedModel:
        import mlflow

        with tempfile.TemporaryDirectory(prefix="churn-model-") as tmp:
            local = mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=tmp,
                                                        tracking_uri=self.tracking_uri)
            return load_model(Path(local) / MODEL_FILENAME, source="mlflow", version=version)

    def _log_change(self, state: str, level: int, event: str, *, force: bool = False,
                    **fields: Any) -> None:
        if state != self._state or force:
            logger.log(level, event, extra=fields)
        self._state = state
