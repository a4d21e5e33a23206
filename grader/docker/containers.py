"""Standalone containers of the built images (`docker run -d IMAGE`), as Service objects, run the way
their labs run them: the API with a writable log folder bind-mounted at LOG_DIR (Lab 4), the MLflow
server with a named volume on the folder that holds its stores (Lab 5)."""

from __future__ import annotations

import logging
import time

from docker.errors import APIError, ImageNotFound, NotFound

from grader.constants import API_SERVER_ENV, MLFLOW_SERVER_ENV
from grader.docker import probes
from grader.docker.service import Service, exposed_ports
from grader.errors import ResourceError
from grader.parse import mlflow_server
from grader.resources import provides

log = logging.getLogger(__name__)

# Lab 4 runs the API with `-e LOG_DIR=/app/logs -v "$PWD/logs:/app/logs"` after `chmod a+w logs`.
DEFAULT_LOG_DIR = "/app/logs"


# As the stack's networks (grader.docker.stack.ISOLATED_NETWORK): internal, and no address on the
# host's end of the bridge, so a standalone container reaches neither the internet nor the host.
ISOLATED_OPTIONS = {"com.docker.network.bridge.inhibit_ipv4": "true"}
FAST_DNS_FAILURE = ["timeout:1", "attempts:1"]   # an outside name fails in a second, not ten


@provides("run_network", depends=())
def run_network(ctx):
    """The run's own isolated network for standalone containers (removed at cleanup)."""
    try:
        network = ctx.docker.networks.create(ctx.name("net"), driver="bridge", internal=True,
                                             options=ISOLATED_OPTIONS, labels=ctx.labels)
    except APIError as exc:
        raise ResourceError(f"could not create the run's network: {exc.explanation or exc}") from None
    ctx.defer(f"remove network {network.name}", network.remove)
    return network


def start_standalone(ctx, role: str, *, blame: str, volumes: dict | None = None,
                     environment: dict | None = None) -> Service:
    """`docker run -d` of the role's image with its own CMD: no ports, on the run's isolated network,
    within the run's limits; removed at cleanup.

    `volumes` and `environment` take the Docker SDK's shapes ({host path or volume: {"bind": path,
    "mode": "rw"}}, {NAME: value}). ResourceError when it cannot be created or started.
    """
    image = ctx.get(f"{role}_image")
    network = ctx.get("run_network")
    try:
        container = ctx.docker.containers.create(image.tag, name=ctx.name(role), labels=ctx.labels,
                                                 detach=True, volumes=volumes or None,
                                                 environment=environment or None,
                                                 network=network.name, dns_opt=FAST_DNS_FAILURE,
                                                 **ctx.options.limits.container_kwargs())
    except (APIError, ImageNotFound) as exc:
        raise ResourceError(f"the {role} container could not be created: {exc.explanation or exc}") from None
    ctx.defer(f"remove container {container.name}", lambda: probes.remove_container(container))
    try:
        container.start()
    except APIError as exc:  # e.g. the CMD's executable is not in the image
        raise ResourceError(f"the {role} container could not start: {exc.explanation or exc}",
                            expected="the image's CMD to start a server") from None
    return Service(container=container, role=role, name=role, preferred_ports=tuple(exposed_ports(image.attrs)),
                   started=time.monotonic(), blame=blame, deadline=ctx.deadline)


def _env(config: dict) -> dict[str, str]:
    return dict(item.partition("=")[::2] for item in config.get("Env") or [])


@provides("mlapp_container", blame="2.api-answers", depends=("mlapp_image", "run_network"), releasable=True)
def mlapp_container(ctx) -> Service:
    """The API as Lab 4 runs it: a grader-made folder, writable by any user (`chmod a+w`), bind-mounted
    at the image's LOG_DIR (or at /app/logs with LOG_DIR set, when the image sets none), and
    `constants.API_SERVER_ENV` (one gunicorn worker: a second only costs time)."""
    log_dir = _env(ctx.get("mlapp_image").config).get("LOG_DIR")
    host = ctx.scratch / "standalone-logs"
    host.mkdir(exist_ok=True)
    host.chmod(0o777)  # not mkdir's mode: the umask would narrow it
    return start_standalone(ctx, "mlapp", blame="2.api-answers",
                            volumes={str(host): {"bind": log_dir or DEFAULT_LOG_DIR, "mode": "rw"}},
                            environment={**API_SERVER_ENV, **({} if log_dir else {"LOG_DIR": DEFAULT_LOG_DIR})})


def mlflow_data_dir(model, config: dict) -> str | None:
    """The folder that holds both of the server's stores, read from the Dockerfile's command, the
    image's environment and WORKDIR (None when no single folder below / holds them)."""
    argv = [w for keyword in ("ENTRYPOINT", "CMD") if (ins := model.effective(keyword))
            for w in (ins.exec_argv() or ["/bin/sh", "-c", ins.body])]
    paths = mlflow_server.store_paths(argv, _env(config), config.get("WorkingDir") or "/")
    return mlflow_server.data_dir(paths)


@provides("mlflow_container", blame="5.healthy", depends=("mlflow_image", "mlflow_dockerfile", "run_network"),
          releasable=True)
def mlflow_container(ctx) -> Service:
    """The tracking server as Lab 5 runs it: a fresh named volume on the folder that holds its stores,
    and `constants.MLFLOW_SERVER_ENV` (no job runner: it only costs time and memory)."""
    folder = mlflow_data_dir(ctx.get("mlflow_dockerfile"), ctx.get("mlflow_image").config)
    volumes = None
    if folder:
        volume = ctx.docker.volumes.create(name=ctx.name("vol-mlflow-standalone"), labels=ctx.labels)

        def remove() -> None:
            try:
                volume.remove(force=True)
            except NotFound:
                pass
        ctx.defer(f"remove volume {volume.name}", remove)  # registered first: runs after the container goes
        volumes = {volume.name: {"bind": folder, "mode": "rw"}}
    return start_standalone(ctx, "mlflow", blame="5.healthy", volumes=volumes, environment=dict(MLFLOW_SERVER_ENV))


def answering(ctx, role: str) -> Service:
    service: Service = ctx.get(f"{role}_container")
    service.answering(timeout=ctx.options.timeout("ready", capped=False))
    ctx.event("ready", f"{role} answers on port {service.port}")
    return service


@provides("mlapp_api", blame="2.api-answers", depends=("mlapp_container",), view_of="mlapp_container")
def mlapp_api(ctx) -> Service:
    return answering(ctx, "mlapp")


@provides("mlflow_api", blame="5.healthy", depends=("mlflow_container",), view_of="mlflow_container")
def mlflow_api(ctx) -> Service:
    return answering(ctx, "mlflow")


@provides("mlapp_port", blame="2.api-answers", depends=("mlapp_api",))
def mlapp_port(ctx) -> int:
    """The port the standalone API answers on (task 10 serves its containers under test on it): a
    number, not the container, so that the container can go once its checks are done."""
    return ctx.get("mlapp_api").port
