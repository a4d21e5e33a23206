"""Where `mlflow server` keeps its data, from its options and MLflow's defaults (pure)."""

from __future__ import annotations

import pytest

from grader.parse.mlflow_server import data_dir, local_path, store_paths, store_uris


@pytest.mark.parametrize(("argv", "env", "expected"), [
    (["mlflow", "server"], {}, {"backend store": "sqlite:///mlflow.db", "artifacts": "./mlartifacts"}),
    (["mlflow", "server", "--backend-store-uri=sqlite:////data/db.sqlite", "--artifacts-destination", "/data/a"], {},
     {"backend store": "sqlite:////data/db.sqlite", "artifacts": "/data/a"}),
    (["mlflow", "server", "--no-serve-artifacts"], {"MLFLOW_BACKEND_STORE_URI": "file:///store"},
     {"backend store": "file:///store", "artifacts": "./mlruns"}),
    (["mlflow", "server", "--default-artifact-root", "/art"], {}, {"backend store": "sqlite:///mlflow.db", "artifacts": "/art"}),
    (["sh", "-c", "exec mlflow server --backend-store-uri sqlite:////d/x.db"], {},
     {"backend store": "sqlite:////d/x.db", "artifacts": "./mlartifacts"}),
])
def test_store_uris_follow_mlflow_defaults(argv, env, expected):
    assert store_uris(argv, env) == expected


def test_local_paths():
    assert local_path("sqlite:////mlflow/db/mlflow.db", "/x") == "/mlflow/db/mlflow.db"
    assert local_path("sqlite:///mlflow.db", "/mlflow") == "/mlflow/mlflow.db"
    assert local_path("./mlartifacts", "/home/app") == "/home/app/mlartifacts"
    assert local_path("postgresql://db/mlflow", "/") is None


def test_data_dir_holds_both_stores():
    reference = store_paths(["mlflow", "server", "--backend-store-uri", "sqlite:////mlflow/db/mlflow.db",
                             "--artifacts-destination", "/mlflow/artifacts"], {}, "/")
    assert data_dir(reference) == "/mlflow"
    assert data_dir(store_paths(["mlflow", "server"], {}, "/srv/mlflow")) == "/srv/mlflow"
    split = store_paths(["mlflow", "server", "--backend-store-uri", "sqlite:////db/m.db",
                         "--artifacts-destination", "/artifacts"], {}, "/")
    assert data_dir(split) is None  # no single folder below / holds both
