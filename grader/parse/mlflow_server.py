"""Where `mlflow server` keeps its data, from its command line and environment (MLflow 3.x CLI:
`mlflow server --help`; `--backend-store-uri` defaults to `sqlite:///mlflow.db`, artifacts go to
`--artifacts-destination` (default ./mlartifacts) when the server serves them, else to
`--default-artifact-root` (default ./mlruns))."""

from __future__ import annotations

import posixpath

from grader.parse.shellwords import option

DEFAULT_BACKEND = "sqlite:///mlflow.db"


def store_uris(argv: list[str], env: dict[str, str]) -> dict[str, str]:
    """{"backend store": uri, "artifacts": uri} as configured, else MLflow's defaults.

    `argv` is the server's command (a `sh -c "..."` script is read too); `env` its environment
    (MLFLOW_BACKEND_STORE_URI, MLFLOW_DEFAULT_ARTIFACT_ROOT, MLFLOW_ARTIFACTS_DESTINATION).
    """
    backend = option(argv, "--backend-store-uri") or env.get("MLFLOW_BACKEND_STORE_URI") or DEFAULT_BACKEND
    words = " ".join(argv)
    serve = "--no-serve-artifacts" not in words
    root = option(argv, "--default-artifact-root") or env.get("MLFLOW_DEFAULT_ARTIFACT_ROOT")
    destination = option(argv, "--artifacts-destination") or env.get("MLFLOW_ARTIFACTS_DESTINATION")
    if destination or (serve and not root):
        artifacts = destination or "./mlartifacts"
    else:
        artifacts = root or "./mlruns"
    return {"backend store": backend, "artifacts": artifacts}


def local_path(uri: str, cwd: str) -> str | None:
    """A store URI as an absolute path inside the container (`cwd` is the server's working
    directory), or None for a remote store (a database server, S3, the artifact proxy)."""
    if uri.startswith("sqlite:///"):
        path = uri[len("sqlite:///"):]  # sqlite:////abs -> /abs, sqlite:///rel -> rel
    elif uri.startswith("file://"):
        path = uri[len("file://"):]
    elif "://" in uri or uri.startswith(("mlflow-artifacts:", "s3:", "gs:", "wasbs:")):
        return None
    else:
        path = uri
    return posixpath.normpath(posixpath.join(cwd or "/", path))


def store_paths(argv: list[str], env: dict[str, str], cwd: str) -> dict[str, str | None]:
    """{what: absolute path inside the container, or None when remote}."""
    return {what: local_path(uri, cwd) for what, uri in store_uris(argv, env).items()}


def data_dir(paths: dict[str, str | None]) -> str | None:
    """The one directory that holds every local store (the backend's file, the artifacts folder):
    where a single named volume keeps all of MLflow's data. None when there is no such directory
    below the root, or no local store."""
    dirs = [posixpath.dirname(p) if what == "backend store" else p for what, p in paths.items() if p]
    if not dirs:
        return None
    common = posixpath.commonpath(dirs)
    return None if common in ("/", "") else common
