"""Train the churn pipeline on synthetic data and save it: `python -m churn.train --help`."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from churn.config import DEFAULT_MODEL_PATH, Config, ConfigError
from churn.data import generate
from churn.features import TARGET, schema
from churn.model import MODEL_FILENAME, THRESHOLD, build_pipeline, save_model, to_matrix
from churn.tracking import error_code, set_mlflow_env, short_error

TEST_SIZE = 0.2


def train(*, rows: int = 4000, seed: int = 42,
          model_version: str = "1.0.0") -> tuple[Pipeline, dict[str, Any]]:
    """Fit the pipeline on generated data; return it with its metadata (no timestamps: reproducible)."""
    data = generate(n_rows=rows, seed=seed)
    X = to_matrix(data)
    y = np.array([row[TARGET] for row in data])
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=TEST_SIZE, stratify=y, random_state=seed)
    pipeline = build_pipeline(seed).fit(X_train, y_train)

    probabilities = pipeline.predict_proba(X_test)[:, 1]
    predicted = probabilities >= THRESHOLD
    metrics = {
        "accuracy": round(float(accuracy_score(y_test, predicted)), 4),
        "roc_auc": round(float(roc_auc_score(y_test, probabilities)), 4),
        "f1": round(float(f1_score(y_test, predicted)), 4),
    }
    metadata = {
        "model_version": model_version,
        "model_file": MODEL_FILENAME,
        "algorithm": type(pipeline[-1]).__name__,
        "metrics": metrics,
        "threshold": THRESHOLD,
        "schema": schema(),
        "sklearn_version": sklearn.__version__,
        "seed": seed,
        "rows": rows,
        "train_rows": len(y_train),
        "test_rows": len(y_test),
    }
    return pipeline, metadata


def log_to_mlflow(*, config: Config, metadata: dict[str, Any], files: list[Path]) -> dict[str, str]:
    """Log params, metrics and the model files to a run, register them and point the alias at them."""
    # A dead server should fail the job in seconds, not after MLflow's minutes of retries.
    set_mlflow_env(timeout=30, max_retries=2, override=False)
    # Slim images have no git; MLflow's run-context lookup would print a page of GitPython warnings.
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    import mlflow  # imported here: slow, and only needed when MLFLOW_TRACKING_URI is set
    from mlflow import MlflowClient

    uri, name = config.mlflow_tracking_uri, config.mlflow_model_name
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(config.mlflow_experiment_name)
    with mlflow.start_run(run_name=f"churn-{metadata['model_version']}") as run:
        mlflow.log_params({key: metadata[key] for key in
                           ("model_version", "algorithm", "rows", "seed", "threshold")})
        mlflow.log_param("test_size", TEST_SIZE)
        mlflow.log_metrics(metadata["metrics"])
        # The same joblib + JSON files the API bakes in: the lean client (mlflow-skinny) cannot use
        # mlflow.sklearn, which needs pandas, and the API loads both sources the same way.
        for path in files:
            mlflow.log_artifact(str(path), artifact_path="model")

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        client.create_registered_model(name, description="Churn classifier (churn.train)")
    except mlflow.exceptions.MlflowException as exc:
        if error_code(exc) != "RESOURCE_ALREADY_EXISTS":
            raise
    version = client.create_model_version(name, source=f"{run.info.artifact_uri}/model",
                                          run_id=run.info.run_id,
                                          tags={"model_version": metadata["model_version"]})
    client.set_registered_model_alias(name, config.mlflow_model_alias, version.version)
    return {"run_id": run.info.run_id, "registered_model": name,
            "registered_version": str(version.version), "alias": config.mlflow_model_alias}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m churn.train", description=__doc__)
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_MODEL_PATH.parent,
                        help="where to write churn-model.joblib and churn-model.json "
                             "(default: %(default)s)")
    parser.add_argument("--rows", type=int, default=4000, help="rows of synthetic data (default: 4000)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default: 42)")
    parser.add_argument("--model-version", default=os.environ.get("MODEL_VERSION") or "1.0.0",
                        help="version stored in the metadata (env MODEL_VERSION, default: 1.0.0)")
    args = parser.parse_args(argv)
    if args.rows < 100:
        parser.error(f"--rows must be at least 100, got {args.rows}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = Config.from_env()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    pipeline, metadata = train(rows=args.rows, seed=args.seed, model_version=args.model_version)
    try:
        model_path, metadata_path = save_model(pipeline, metadata, args.output_dir)
    except OSError as exc:  # e.g. a read-only models/ in an image that runs as a normal user
        print(f"error: cannot write the model to {args.output_dir}: {exc}", file=sys.stderr)
        return 1
    summary: dict[str, Any] = {"model_path": str(model_path), "model_version": args.model_version,
                               "metrics": metadata["metrics"], "rows": args.rows, "seed": args.seed,
                               "mlflow": None}
    if config.mlflow_tracking_uri:
        try:
            # MLflow prints "View run at ..." links on stdout; keep stdout for the JSON summary.
            with contextlib.redirect_stdout(sys.stderr):
                summary["mlflow"] = log_to_mlflow(config=config, metadata=metadata,
                                                  files=[model_path, metadata_path])
        except Exception as exc:  # one clear line instead of a traceback: the job's log stays readable
            print(f"error: MLflow at {config.mlflow_tracking_uri} failed: {short_error(exc)}",
                  file=sys.stderr)
            return 1
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
