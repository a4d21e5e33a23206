"""Flask app factory: /health, /schema, /predict, JSON errors and one JSON log line per request."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from churn import __version__
from churn.config import Config
from churn.features import schema
from churn.logs import setup_logging
from churn.model import load_model, predict
from churn.tracking import ModelRefresher
from churn.validation import ValidationError, parse_json, validate_payload

logger = logging.getLogger(__name__)

# Caller-supplied request ids are echoed into logs and headers, so accept only harmless tokens.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")

ENDPOINTS = {
    "GET /": "this index",
    "GET /health": "liveness, model version and source, MLflow status",
    "GET /schema": "the feature schema a record must follow",
    "POST /predict": "one record (JSON object) or a batch (JSON array) -> churn predictions",
}


def create_app(config: Config | None = None) -> Flask:
    """Build the app: load the baked-in model, start the MLflow refresher, wire routes and logging."""
    config = config or Config.from_env()
    setup_logging(level=config.log_level, log_dir=config.log_dir)
    refresher = ModelRefresher(
        model=load_model(config.model_path), tracking_uri=config.mlflow_tracking_uri,
        model_name=config.mlflow_model_name, model_alias=config.mlflow_model_alias,
        refresh_seconds=config.mlflow_refresh_seconds)

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = config.max_content_length
    app.json.sort_keys = False  # keep response fields in the documented order
    app.extensions["churn"] = refresher
    _add_request_hooks(app)
    _add_routes(app, config, refresher)
    _add_error_handlers(app, config)

    refresher.start()  # returns at once; the first registry lookup happens in the background
    logger.info("app_started", extra={"model_version": refresher.model.version,
                                      "model_path": str(config.model_path),
                                      "mlflow_tracking_uri": config.mlflow_tracking_uri})
    return app


def _error(message: str, status: int) -> tuple[Response, int]:
    return jsonify(error=message, request_id=g.get("request_id")), status


def _add_request_hooks(app: Flask) -> None:
    @app.before_request
    def start_request() -> None:
        g.started = time.perf_counter()
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _SAFE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex

    @app.after_request
    def log_request(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.request_id
        logger.info("request", extra={
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "latency_ms": round((time.perf_counter() - g.started) * 1000, 2),
            "request_id": g.request_id,
            "remote_addr": request.remote_addr,
        })
        return response


def _add_routes(app: Flask, config: Config, refresher: ModelRefresher) -> None:
    @app.get("/")
    def index() -> dict[str, Any]:
        return {"service": "churn-prediction-api", "version": __version__, "endpoints": ENDPOINTS}

    @app.get("/health")
    def health() -> dict[str, Any]:
        # Only cached state: the MLflow lookup runs in the refresher thread, never here.
        model = refresher.model
        return {"status": "ok", "model_version": model.version, "model_source": model.source,
                "mlflow": refresher.status}

    @app.get("/schema")
    def get_schema() -> dict[str, Any]:
        return schema()

    @app.post("/predict")
    def predict_route() -> dict[str, Any]:
        payload = parse_json(request.get_data(cache=False))
        records = validate_payload(payload, max_records=config.max_records)
        model = refresher.model  # read once, so a swap mid-request cannot mix two models
        return {"model_version": model.version, "request_id": g.request_id,
                "predictions": predict(model, records)}


def _add_error_handlers(app: Flask, config: Config) -> None:
    @app.errorhandler(ValidationError)
    def invalid_payload(exc: ValidationError) -> tuple[Response, int]:
        return _error(exc.message, exc.status)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response, int]:
        code = exc.code or 500
        messages = {
            404: f"no such endpoint: {request.path} (see GET / for the list)",
            405: f"method {request.method} is not allowed on {request.path}",
            413: f"request body too large: at most {config.max_content_length} bytes "
                 f"(MAX_CONTENT_LENGTH)",
        }
        response, status = _error(messages.get(code, exc.description or exc.name), code)
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response, status

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[Response, int]:
        logger.exception("unhandled_exception", extra={"request_id": g.get("request_id"),
                                                       "path": request.path})
        return _error("internal server error", 500)
