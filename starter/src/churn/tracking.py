"""MLflow for the API: a background thread that serves the registry's aliased model when it can."""

from __future__ import annotations

import logging
import tempfile
import threading
from pathlib import Path
from typing import Any

from churn.mlflow_rest import MlflowError, MlflowRestClient
from churn.model import METADATA_FILENAME, MODEL_FILENAME, LoadedModel, load_model

logger = logging.getLogger(__name__)

# The API fails fast and never retries: a slow or dead registry only delays a model switch, and
# the next lookup is MLFLOW_REFRESH_SECONDS away anyway.
LOOKUP_TIMEOUT_S = 5.0


def short_error(exc: BaseException, limit: int = 300) -> str:
    """The exception's message on one line, at most `limit` characters (its type if empty)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ModelRefresher:
    """Holds the model being served and, if MLflow is configured, polls the registry for a new one.

    `model`: the baked-in model, served until the registry has a loadable `model_name@model_alias`.
    `tracking_uri`: MLflow's http(s) URL, or None for no MLflow at all (`status` stays "disabled").
    `refresh_seconds`: pause between lookups. `client`: an MlflowRestClient to use instead of the
    default one (5 s timeout, no retries).
    """

    def __init__(self, *, model: LoadedModel, tracking_uri: str | None, model_name: str,
                 model_alias: str, refresh_seconds: float, client: Any = None) -> None:
        self.model = model  # replaced in one assignment, so request threads never see half a swap
        self.status = "disabled" if tracking_uri is None else "unreachable"  # until the first answer
        self.tracking_uri = tracking_uri
        self.model_name = model_name
        self.model_alias = model_alias
        self.refresh_seconds = refresh_seconds
        self._registry_version: str | None = None  # registry version being served, if any
        self._state: str | None = None  # last state logged, so each change is logged only once
        self._client = client
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start polling in a daemon thread (first attempt right away); a no-op without MLflow."""
        if self.tracking_uri is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="mlflow-refresher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to stop and wait up to `timeout` seconds for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.refresh()
            self._stop.wait(self.refresh_seconds)

    def refresh(self) -> None:
        """One registry lookup, and a model swap if the alias points at a new version. Never raises.

        States, each logged once when entered: `mlflow_unreachable` (no answer, an error status,
        or not MLflow's JSON: `status` "unreachable"), `mlflow_model_not_found` (the server answered
        that the model or alias does not exist: `status` "ok"), `mlflow_model_load_failed` (the
        version's files could not be downloaded or loaded; the current model is kept), and
        `model_switched` (logged at every switch)."""
        target = f"{self.model_name}@{self.model_alias}"
        try:
            version = self._get_client().get_model_version_by_alias(self.model_name, self.model_alias)
            found, source = str(version["version"]), str(version["source"])
        except Exception as exc:
            if isinstance(exc, MlflowError) and exc.not_found:
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
        if found == self._registry_version:
            self._log_change("ok", logging.INFO, "mlflow_ok", model=target, serving=found)
            return
        try:
            model = self._download(source, found)
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
            self._client = MlflowRestClient(self.tracking_uri, timeout=LOOKUP_TIMEOUT_S, retries=0)
        return self._client

    def _download(self, source: str, version: str) -> LoadedModel:
        """Fetch the version's joblib + JSON files (what churn.train logs under `model/`) and load them."""
        with tempfile.TemporaryDirectory(prefix="churn-model-") as tmp:
            for name in (MODEL_FILENAME, METADATA_FILENAME):
                self._get_client().download_artifact(source, name, Path(tmp) / name)
            return load_model(Path(tmp) / MODEL_FILENAME, source="mlflow", version=version)

    def _log_change(self, state: str, level: int, event: str, *, force: bool = False,
                    **fields: Any) -> None:
        if state != self._state or force:
            logger.log(level, event, extra=fields)
        self._state = state
