"""Runtime configuration, read from environment variables only."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# starter/ locally, /app in the container: the models/ folder sits next to src/.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODEL_PATH = PROJECT_ROOT / "models" / "churn-model.joblib"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(ValueError):
    """A bad environment variable; the message names the variable and the value."""


def env_str(environ: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    """The variable's value, stripped; unset and empty both mean 'use the default'."""
    value = environ.get(name, "").strip()
    return value or default


def env_int(environ: Mapping[str, str], name: str, default: int, *,
            minimum: int = 0, maximum: int | None = None) -> int:
    raw = env_str(environ, name)
    if raw is None:
        return default
    expected = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer {expected}, got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        raise ConfigError(f"{name} must be an integer {expected}, got {raw!r}")
    return value


def env_float(environ: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = env_str(environ, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number >= {minimum}, got {raw!r}") from None
    if not value >= minimum or value == float("inf"):  # also rejects nan
        raise ConfigError(f"{name} must be a number >= {minimum}, got {raw!r}")
    return value


@dataclass(frozen=True)
class Config:
    model_path: Path = DEFAULT_MODEL_PATH
    mlflow_tracking_uri: str | None = None
    mlflow_experiment_name: str = "churn-prediction"
    mlflow_model_name: str = "churn-model"
    mlflow_model_alias: str = "production"
    mlflow_refresh_seconds: float = 30.0
    log_level: str = "INFO"
    log_dir: Path | None = None
    host: str = "0.0.0.0"
    port: int = 5000
    max_records: int = 1000
    max_content_length: int = 1024 * 1024

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Config:
        """Build a Config from environment variables; raises ConfigError naming a bad one."""
        log_level = env_str(environ, "LOG_LEVEL", "INFO").upper()
        if log_level not in LOG_LEVELS:
            raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, "
                              f"got {environ['LOG_LEVEL']!r}")
        log_dir = env_str(environ, "LOG_DIR")
        return cls(
            model_path=Path(env_str(environ, "MODEL_PATH", str(DEFAULT_MODEL_PATH))),
            mlflow_tracking_uri=env_str(environ, "MLFLOW_TRACKING_URI"),
            mlflow_experiment_name=env_str(environ, "MLFLOW_EXPERIMENT_NAME", cls.mlflow_experiment_name),
            mlflow_model_name=env_str(environ, "MLFLOW_MODEL_NAME", cls.mlflow_model_name),
            mlflow_model_alias=env_str(environ, "MLFLOW_MODEL_ALIAS", cls.mlflow_model_alias),
            mlflow_refresh_seconds=env_float(environ, "MLFLOW_REFRESH_SECONDS",
                                             cls.mlflow_refresh_seconds, minimum=1.0),
            log_level=log_level,
            log_dir=Path(log_dir) if log_dir else None,
            host=env_str(environ, "HOST", cls.host),
            port=env_int(environ, "PORT", cls.port, minimum=1, maximum=65535),
            max_records=env_int(environ, "MAX_RECORDS", cls.max_records, minimum=1),
            max_content_length=env_int(environ, "MAX_CONTENT_LENGTH", cls.max_content_length,
                                       minimum=1),
        )
