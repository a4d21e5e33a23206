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

from churn.config import DEFAULT_MODEL_PATH, Config, ConfigError, env_float, env_int
from churn.data import generate
from churn.features import TARGET, schema
from churn.mlflow_rest import MlflowRestClient
from churn.model import MODEL_FILENAME, THRESHOLD, build_pipeline, save_model, to_matrix
from churn.tracking import short_error

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


def log_to_mlflow(*, config: Config, metadata: dict[str, Any], files: list[Path],
                  client: MlflowRestClient | None = None) -> dict[str, str]:
    """Log params, metrics and the model files to a run, register them and point the alias at them.

    `metadata`: what `train` returns (model_version, algorithm, rows, seed, threshold, metrics).
    `files`: the model's joblib and JSON files, logged as artifacts under `model/`; the registered
    version's source is that folder, which the API downloads (churn.tracking). Returns
    {"run_id", "registered_model", "registered_version", "alias"}. Raises MlflowError when MLflow
    fails (the run is then marked FAILED if it was created), ConfigError for a bad
    MLFLOW_HTTP_REQUEST_TIMEOUT or MLFLOW_HTTP_REQUEST_MAX_RETRIES.
    """
    if client is None:
        # A dead server fails the job in seconds, not after minutes of retries. The variables are
        # MLflow's own client knobs, honoured under the same names.
        client = MlflowRestClient(
            config.mlflow_tracking_uri,
            timeout=env_float(os.environ, "MLFLOW_HTTP_REQUEST_TIMEOUT", 30.0, minimum=1.0),
            retries=env_int(os.environ, "MLFLOW_HTTP_REQUEST_MAX_RETRIES", 2, minimum=0))
    name, alias = config.mlflow_model_name, config.mlflow_model_alias
    experiment_id = client.get_or_create_experiment(config.mlflow_experiment_name)
    run = client.create_run(experiment_id, run_name=f"churn-{metadata['model_version']}",
                            tags={"mlflow.source.name": "churn.train", "mlflow.source.type": "LOCAL"})
    run_id, artifact_uri = run["run_id"], run["artifact_uri"]
    try:
        params = {key: metadata[key] for key in ("model_version", "algorithm", "rows", "seed", "threshold")}
        client.log_batch(run_id, params={**params, "test_size": TEST_SIZE}, metrics=metadata["metrics"])
        # The same joblib + JSON files the API bakes in: one format for both sources, loaded the
        # same way, and no MLflow model flavor (which would need the mlflow package to load).
        for path in files:
            client.upload_artifact(artifact_uri, path, "model")
    except BaseException:
        with contextlib.suppress(Exception):  # best effort: the original error is the one to show
            client.end_run(run_id, "FAILED")
        raise
    client.end_run(run_id, "FINISHED")

    client.create_registered_model(name, description="Churn classifier (churn.train)")
    version = client.create_model_version(name, source=f"{artifact_uri.rstrip('/')}/model", run_id=run_id,
                                          tags={"model_version": metadata["model_version"]})
    client.set_registered_model_alias(name, alias, version["version"])
    return {"run_id": run_id, "registered_model": name,
            "registered_version": str(version["version"]), "alias": alias}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (`argv`, default sys.argv[1:]); exits 2 with a usage line when it is bad."""
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
    """Train, save the model files, log to MLflow if MLFLOW_TRACKING_URI is set, print one JSON
    summary line; returns the exit status (0 done, 1 cannot write the model or MLflow failed,
    2 a bad environment variable). Errors are one `error: ...` line on stderr."""
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
