"""Task 6: docker-compose.yml, read statically from `docker compose config` (no engine)."""

from __future__ import annotations

import logging
import posixpath
import urllib.parse
from pathlib import Path

from grader.docker.compose import ComposeModel
from grader.parse import mlflow_server
from grader.registry import check
from grader.results import fail, ok

log = logging.getLogger(__name__)

LOCAL_HOSTS = {"localhost", "127.0.0.1", "0.0.0.0", "::1", "[::1]", "host.docker.internal"}
RESTARTING = {"always", "unless-stopped", "on-failure"}


def _within(path: str, directory: str) -> bool:
    path, directory = posixpath.normpath(path), posixpath.normpath(directory)
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def _host_source(model: ComposeModel, source: str) -> str:
    try:
        return "./" + str(Path(source).relative_to(model.workspace))
    except ValueError:
        return source


@check("6.valid", phase="static")
def valid(compose):
    model: ComposeModel = compose
    model.require("mlapp", "mlflow")
    return ok(f"`docker compose config` accepts {model.file.name}: API service `{model.mlapp}` builds "
              f"Dockerfile.mlapp, MLflow service `{model.mlflow}` builds Dockerfile.mlflow")


@check("6.network", phase="static")
def network(compose):
    model: ComposeModel = compose
    api, mlf = model.require("mlapp", "mlflow")
    shared = [n for n in model.shared_networks(api, mlf)
              if n != "default" and (model.networks_declared.get(n) or {}).get("driver") not in ("host", "none")]
    if shared:
        return ok(f"`{api}` and `{mlf}` both join the network `{shared[0]}`")

    def joined(service: str) -> str:
        mode = model.service(service).get("network_mode")
        if mode:
            return f"`{service}`: network_mode {mode}"
        nets = list(model.networks(service))
        return f"`{service}`: " + (", ".join(nets) if nets != ["default"] else "only compose's default network")

    return fail("the API and MLflow services share no declared network",
                expected="a network under top-level `networks:` listed in both services' `networks:`",
                found=f"{joined(api)}; {joined(mlf)}; declared: "
                      f"{', '.join(k for k in model.networks_declared if k != 'default') or 'none'}")


def store_paths(model: ComposeModel) -> dict[str, str]:
    """Where MLflow keeps its backend store and artifacts inside its container (absolute paths)."""
    (service,) = model.require("mlflow")
    workdir = model.service(service).get("working_dir") or _workdir(model, service)
    paths = mlflow_server.store_paths(model.command(service), model.image_env(service), workdir)
    return {what: path for what, path in paths.items() if path is not None}


def _workdir(model: ComposeModel, service: str) -> str:
    image = model.image_model(service)
    ins = image.effective("WORKDIR") if image else None
    return ins.resolved.strip() if ins else "/"


@check("6.named-volume", phase="static")
def named_volume(compose):
    model: ComposeModel = compose
    (service,) = model.require("mlflow")
    named = [m for m in model.mounts(service) if m.type == "volume" and m.source in model.volumes_declared]
    if not named:
        mounts = ", ".join(f"{m.type} {m.source or '(anonymous)'}:{m.target}" for m in model.mounts(service))
        return fail(f"the MLflow service `{service}` mounts no named volume",
                    expected="a volume declared under top-level `volumes:` mounted in the MLflow service",
                    found=mounts or "no volumes at all")
    paths = store_paths(model)
    uncovered = {what: p for what, p in paths.items() if not any(_within(p, m.target) for m in named)}
    volumes = ", ".join(f"`{m.source}` at {m.target}" for m in named)
    if uncovered:
        return fail(f"MLflow's data is not on the named volume ({volumes})",
                    expected="the backend store and artifacts in a directory where a named volume is mounted",
                    found="; ".join(f"{what} in {p}" for what, p in uncovered.items()),
                    partial="one-store" if len(uncovered) < len(paths) else None)
    where = "; ".join(f"{what} in {p}" for what, p in paths.items())
    return ok(f"named volume {volumes} holds MLflow's data ({where})")


@check("6.log-bind", phase="static")
def log_bind(compose):
    model: ComposeModel = compose
    (service,) = model.require("mlapp")
    binds = [m for m in model.mounts(service) if m.type == "bind"]
    if not binds:
        return fail(f"the API service `{service}` has no bind mount",
                    expected="a host directory mounted into the API service, e.g. `./logs:/app/logs`",
                    found=", ".join(f"{m.type} {m.source}:{m.target}" for m in model.mounts(service)) or "no volumes")
    log_dir = model.image_env(service).get("LOG_DIR")
    listed = ", ".join(f"{_host_source(model, m.source)}:{m.target}" for m in binds)
    match = next((m for m in binds if log_dir and _within(log_dir, m.target)), None)
    if match is None:
        return fail("LOG_DIR does not point into the bind mount",
                    expected=f"LOG_DIR set to the container side of a bind mount ({listed})",
                    found=f"LOG_DIR={log_dir}" if log_dir else "LOG_DIR is not set", partial="no-log-dir")
    return ok(f"{_host_source(model, match.source)} is bind-mounted at {match.target} and LOG_DIR={log_dir}")


@check("6.tracking-uri", phase="static")
def tracking_uri(compose):
    model: ComposeModel = compose
    api, mlf = model.require("mlapp", "mlflow")
    port = model.mlflow_port()
    expected = f"MLFLOW_TRACKING_URI=http://{mlf}:{port} in the environment of `{api}`"
    uri = model.image_env(api).get("MLFLOW_TRACKING_URI")
    if not uri:
        return fail(f"MLFLOW_TRACKING_URI is not set for the API service `{api}`", expected=expected,
                    found="no MLFLOW_TRACKING_URI in its environment")
    parsed = urllib.parse.urlparse(uri)
    host = (parsed.hostname or "").lower()
    if parsed.scheme not in ("http", "https") or not host:
        return fail("MLFLOW_TRACKING_URI is not an http:// URL", expected=expected, found=uri)
    if host in LOCAL_HOSTS or host.strip("[]") in LOCAL_HOSTS:
        return fail(f"MLFLOW_TRACKING_URI points at {host}: inside the API container that is the API container "
                    f"itself (or the host), not the MLflow container", expected=expected, found=uri)
    target = model.resolve_host(host)
    if target != mlf:
        reached = f"it names service `{target}`" if target else "no service or alias on a network it shares with the API"
        return fail(f"the host `{host}` in MLFLOW_TRACKING_URI does not reach the MLflow service `{mlf}`",
                    expected=expected, found=f"{uri} ({reached})")
    try:
        used = parsed.port or (443 if parsed.scheme == "https" else 80)
    except ValueError:
        return fail("MLFLOW_TRACKING_URI has an invalid port", expected=expected, found=uri)
    if used != port:
        implicit = "" if parsed.port else f" (no port in the URL means {used})"
        return fail(f"MLFLOW_TRACKING_URI uses port {used}{implicit}, but MLflow listens on {port}",
                    expected=expected, found=uri)
    return ok(f"MLFLOW_TRACKING_URI={uri} reaches `{mlf}`, which listens on port {port}")


@check("6.depends-healthy", phase="static")
def depends_healthy(compose):
    model: ComposeModel = compose
    api, mlf = model.require("mlapp", "mlflow")
    expected = f"`depends_on: {{{mlf}: {{condition: service_healthy}}}}` in `{api}` and a healthcheck for `{mlf}`"
    depends = model.service(api).get("depends_on") or {}
    if isinstance(depends, list):
        depends = {name: {"condition": "service_started"} for name in depends}
    if mlf not in depends:
        return fail(f"`{api}` does not depend on `{mlf}`", expected=expected,
                    found=f"depends_on: {', '.join(depends) or 'none'}")
    condition = (depends[mlf] or {}).get("condition", "service_started")
    healthcheck = model.healthcheck(mlf)
    if condition != "service_healthy":
        return fail(f"`{api}` waits only for `{mlf}` to start, not to be healthy", expected=expected,
                    found=f"condition: {condition}")
    if healthcheck is None:
        return fail(f"`{mlf}` has no healthcheck, so it can never turn healthy", expected=expected,
                    found="no healthcheck in the compose file or in its Dockerfile")
    return ok(f"`{api}` waits for `{mlf}` to be healthy (healthcheck in {healthcheck[0]})")


def restart_policy(model: ComposeModel, service: str) -> str | None:
    svc = model.service(service)
    restart = svc.get("restart")
    if restart:
        return str(restart)
    condition = ((svc.get("deploy") or {}).get("restart_policy") or {}).get("condition")
    return f"deploy.restart_policy {condition}" if condition else None


@check("6.restart", phase="static")
def restart(compose):
    model: ComposeModel = compose
    if model.mlapp is None and model.mlflow is None:
        model.require("mlapp", "mlflow")  # raises: neither long-running service is there to look at
    policies = {s or f"(no {role} service)": restart_policy(model, s) if s else None
                for role, s in (("API", model.mlapp), ("MLflow", model.mlflow))}

    def restarts(value: str | None) -> bool:
        if not value:
            return False
        word = value.split()[-1].split(":")[0]
        return word in RESTARTING or word == "any"

    good = [s for s, p in policies.items() if restarts(p)]
    found = "; ".join(f"`{s}`: {p or 'no restart policy'}" for s, p in policies.items())
    if len(good) == len(policies):
        return ok(f"both services restart ({found})")
    return fail("not every long-running service has a restart policy",
                expected="`restart: unless-stopped` (or always / on-failure) on the API and MLflow services",
                found=found, partial="one-service" if good else None)

