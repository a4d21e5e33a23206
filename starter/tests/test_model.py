"""Saving, loading and predicting with the pipeline, including the committed model."""

import json
import warnings

import pytest
import sklearn

from churn.config import DEFAULT_MODEL_PATH
from churn.model import METADATA_FILENAME, MODEL_FILENAME, ModelLoadError, load_model, predict, save_model
from churn.train import train


@pytest.fixture(scope="module")
def small_model():
    return train(rows=500, seed=1, model_version="9.9.9")


def test_committed_model_loads_with_the_pinned_sklearn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. InconsistentVersionWarning from another sklearn
        model = load_model(DEFAULT_MODEL_PATH)
    assert (model.version, model.source) == ("1.0.0", "file")
    assert model.metadata["sklearn_version"] == sklearn.__version__
    assert model.metadata["model_file"] == DEFAULT_MODEL_PATH.name == MODEL_FILENAME


def test_predict_returns_one_result_per_record_in_order(sample_record):
    model = load_model(DEFAULT_MODEL_PATH)
    loyal = dict(sample_record, tenure_months=70, contract="two-year", support_calls=0,
                 payment_method="credit_card", internet_service="dsl", monthly_charges=45.0)
    results = predict(model, [sample_record, loyal, sample_record])
    assert len(results) == 3
    for result in results:
        assert set(result) == {"churn", "probability"}
        assert isinstance(result["churn"], bool) and 0.0 <= result["probability"] <= 1.0
    assert results[0] == results[2]
    assert results[0]["probability"] > 0.5 > results[1]["probability"]
    assert results[0]["churn"] and not results[1]["churn"]


def test_save_then_load_round_trip(tmp_path, small_model, sample_record):
    pipeline, metadata = small_model
    model_path, meta_path = save_model(pipeline, metadata, tmp_path / "out")
    assert (model_path.name, meta_path.name) == (MODEL_FILENAME, METADATA_FILENAME)
    loaded = load_model(model_path, source="mlflow", version="7")
    assert (loaded.version, loaded.source, loaded.metadata) == ("7", "mlflow", metadata)
    assert load_model(model_path).version == "9.9.9"
    assert predict(loaded, [sample_record])[0]["probability"] == round(
        float(pipeline.predict_proba([[5.0, 89.9, "month-to-month", "fiber_optic",
                                       "electronic_check", 3.0, 1.0, 0.0]])[0, 1]), 4)


def test_missing_model_file_is_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="model file not found: .*nope.joblib"):
        load_model(tmp_path / "nope.joblib")


def test_corrupt_model_file_is_a_clear_error(tmp_path, small_model):
    model_path, _ = save_model(*small_model, tmp_path)
    model_path.write_bytes(b"not a pickle")
    with pytest.raises(ModelLoadError, match="cannot load model"):
        load_model(model_path)


def test_model_for_other_features_is_rejected(tmp_path, small_model):
    pipeline, metadata = small_model
    metadata = json.loads(json.dumps(metadata))
    metadata["schema"]["features"] = metadata["schema"]["features"][:3]
    model_path, _ = save_model(pipeline, metadata, tmp_path)
    with pytest.raises(ModelLoadError, match="trained on features"):
        load_model(model_path)
