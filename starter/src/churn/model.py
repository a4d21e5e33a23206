"""Build, save and load the churn pipeline with its metadata, and predict on validated records."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from churn.features import BOOLEAN_COLUMNS, BY_NAME, CATEGORY_COLUMNS, FEATURE_NAMES, NUMERIC_COLUMNS, to_row

MODEL_FILENAME = "churn-model.joblib"
METADATA_FILENAME = "churn-model.json"
THRESHOLD = 0.5


class ModelLoadError(RuntimeError):
    """The model file or its metadata is missing, unreadable or made for other features."""


@dataclass
class LoadedModel:
    pipeline: Pipeline
    metadata: dict[str, Any]
    version: str
    source: str = "file"  # "file" (baked into the image) or "mlflow" (from the registry)


def build_pipeline(seed: int) -> Pipeline:
    categories = [list(BY_NAME[FEATURE_NAMES[i]].choices) for i in CATEGORY_COLUMNS]
    preprocess = ColumnTransformer([
        ("numeric", StandardScaler(), NUMERIC_COLUMNS),
        # Fixed category lists: the encoding does not depend on which values the sample contains.
        ("category", OneHotEncoder(categories=categories, sparse_output=False), CATEGORY_COLUMNS),
        ("boolean", "passthrough", BOOLEAN_COLUMNS),
    ])
    return Pipeline([("preprocess", preprocess),
                     ("classifier", LogisticRegression(max_iter=1000, random_state=seed))])


def to_matrix(records: list[dict[str, Any]]) -> np.ndarray:
    """Records (already validated) as the 2-D object array the pipeline was trained on."""
    return np.array([to_row(r) for r in records], dtype=object)


def metadata_path_for(model_path: Path) -> Path:
    return model_path.with_suffix(".json")


def save_model(pipeline: Pipeline, metadata: dict[str, Any], output_dir: Path) -> tuple[Path, Path]:
    """Write the pipeline (joblib) and its metadata (JSON, sorted keys) into output_dir."""
    output_dir.mkdir(parents=True, exist_ok=True)
    model_path = output_dir / MODEL_FILENAME
    joblib.dump(pipeline, model_path)
    meta_path = metadata_path_for(model_path)
    meta_path.write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return model_path, meta_path


def load_model(model_path: Path, *, source: str = "file", version: str | None = None) -> LoadedModel:
    """Load a pipeline and the metadata JSON next to it; raises ModelLoadError with a clear reason."""
    meta_path = metadata_path_for(model_path)
    for path in (model_path, meta_path):
        if not path.is_file():
            raise ModelLoadError(f"model file not found: {path} (set MODEL_PATH or run "
                                 f"`python -m churn.train`)")
    try:
        metadata = json.loads(meta_path.read_text(encoding="utf-8"))
        # joblib files are pickles: only load models from sources you trust (your image, your registry).
        pipeline = joblib.load(model_path)
    except Exception as exc:
        raise ModelLoadError(f"cannot load model {model_path}: {exc}") from exc
    trained_on = [f["name"] for f in metadata.get("schema", {}).get("features", [])]
    if trained_on != list(FEATURE_NAMES):
        raise ModelLoadError(f"model {model_path} was trained on features {trained_on}, "
                             f"this code expects {list(FEATURE_NAMES)}")
    return LoadedModel(pipeline=pipeline, metadata=metadata, source=source,
                       version=version or str(metadata.get("model_version", "unknown")))


def predict(model: LoadedModel, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Churn probability and decision for each validated record, in order."""
    probabilities = model.pipeline.predict_proba(to_matrix(records))[:, 1]
    threshold = float(model.metadata.get("threshold", THRESHOLD))
    return [{"churn": bool(p >= threshold), "probability": round(float(p), 4)}
            for p in probabilities]
