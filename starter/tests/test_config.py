"""Config.from_env: defaults, parsing, and errors that name the bad variable."""

from pathlib import Path

import pytest

from churn.config import DEFAULT_MODEL_PATH, Config, ConfigError


def test_defaults_with_an_empty_environment():
    config = Config.from_env({})
    assert config == Config()
    assert config.model_path == DEFAULT_MODEL_PATH
    assert config.mlflow_tracking_uri is None and config.log_dir is None
    assert (config.host, config.port, config.max_records) == ("0.0.0.0", 5000, 1000)
    assert config.max_content_length == 1024 * 1024


def test_default_model_path_is_next_to_src_and_committed():
    assert DEFAULT_MODEL_PATH.parent.name == "models"
    assert DEFAULT_MODEL_PATH.parent.parent == Path(__file__).resolve().parents[1]
    assert DEFAULT_MODEL_PATH.is_file()


def test_values_are_read_from_the_environment(tmp_path):
    config = Config.from_env({
        "MODEL_PATH": str(tmp_path / "m.joblib"), "MLFLOW_TRACKING_URI": "http://mlflow:5000",
        "MLFLOW_EXPERIMENT_NAME": "exp", "MLFLOW_MODEL_NAME": "m", "MLFLOW_MODEL_ALIAS": "staging",
        "MLFLOW_REFRESH_SECONDS": "2.5", "LOG_LEVEL": "debug", "LOG_DIR": str(tmp_path),
        "HOST": "127.0.0.1", "PORT": "8080", "MAX_RECORDS": "10", "MAX_CONTENT_LENGTH": "2048",
    })
    assert config.model_path == tmp_path / "m.joblib"
    assert config.mlflow_tracking_uri == "http://mlflow:5000"
    assert (config.mlflow_experiment_name, config.mlflow_model_name) == ("exp", "m")
    assert config.mlflow_model_alias == "staging" and config.mlflow_refresh_seconds == 2.5
    assert config.log_level == "DEBUG" and config.log_dir == tmp_path
    assert (config.host, config.port, config.max_records, config.max_content_length) == (
        "127.0.0.1", 8080, 10, 2048)


def test_empty_values_mean_default():
    assert Config.from_env({"PORT": "", "MLFLOW_TRACKING_URI": " ", "LOG_DIR": ""}) == Config()


@pytest.mark.parametrize("name, value", [
    ("PORT", "abc"), ("PORT", "0"), ("PORT", "70000"), ("MAX_RECORDS", "0"),
    ("MAX_RECORDS", "1.5"), ("MAX_CONTENT_LENGTH", "1MB"), ("MLFLOW_REFRESH_SECONDS", "0"),
    ("MLFLOW_REFRESH_SECONDS", "nan"), ("MLFLOW_REFRESH_SECONDS", "soon"), ("LOG_LEVEL", "loud"),
])
def test_bad_values_name_the_variable_and_value(name, value):
    with pytest.raises(ConfigError) as excinfo:
        Config.from_env({name: value})
    assert name in str(excinfo.value)
    assert repr(value) in str(excinfo.value)
