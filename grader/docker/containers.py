"""Standalone containers of the built images (`docker run -d IMAGE`), as Service objects."""

from __future__ import annotations

import logging
import time

from docker.errors import APIError, ImageNotFound

from grader.docker import probes
from grader.docker.service import Service, exposed_ports
from grader.errors import ResourceError
from grader.resources import provides

log = logging.getLogger(__name__)


def start_standalone(ctx, role: str, *, blame: str) -> Service:
    """`docker run -d` of the role's image with its own CMD: no ports, no extra env; removed at cleanup."""
    image = ctx.get(f"{role}_image")
    try:
        container = ctx.docker.containers.create(image.tag, name=ctx.name(role), labels=ctx.labels,
                                                 detach=True, **ctx.options.limits.container_kwargs())
    except (APIError, ImageNotFound) as exc:
        raise ResourceError(f"the {role} container could not be created: {exc.explanation or exc}") from None
    ctx.defer(f"remove container {container.name}", lambda: probes.remove_container(container))
    try:
        container.start()
    except APIError as exc:  # e.g. the CMD's executable is not in the image
        raise ResourceError(f"the {role} container could not start: {exc.explanation or exc}",
                            expected="the image's CMD to start a server") from None
    return Service(container=container, role=role, name=role, preferred_ports=tuple(exposed_ports(image.attrs)),
                   started=time.monotonic(), blame=blame)


@provides("mlapp_container", blame="2.api-answers", depends=("mlapp_image",))
def mlapp_container(ctx) -> Service:
    return start_standalone(ctx, "mlapp", blame="2.api-answers")


@provides("mlflow_container", blame="5.healthy", depends=("mlflow_image",))
def mlflow_container(ctx) -> Service:
    return start_standalone(ctx, "mlflow", blame="5.healthy")


def answering(ctx, role: str) -> Service:
    service: Service = ctx.get(f"{role}_container")
    service.answering(timeout=ctx.options.timeout("ready"))
    ctx.event("ready", f"{role} answers on port {service.port}")
    return service


@provides("mlapp_api", blame="2.api-answers", depends=("mlapp_container",))
def mlapp_api(ctx) -> Service:
    return answering(ctx, "mlapp")


@provides("mlflow_api", blame="5.healthy", depends=("mlflow_container",))
def mlflow_api(ctx) -> Service:
    return answering(ctx, "mlflow")
