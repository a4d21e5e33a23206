"""Standalone containers of the built images, the endpoints they serve, and one-off probe containers."""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

from docker.errors import APIError, ImageNotFound, NotFound
from requests.exceptions import RequestException

from grader import probes
from grader.errors import ResourceError
from grader.resources import provides

log = logging.getLogger(__name__)

LOOPBACK = ("127.", "::1", "::ffff:127.")
ALL_INTERFACES = ("0.0.0.0", "::")
LOG_TAIL = 20


@dataclass(frozen=True)
class Endpoint:
    container: object        # docker.models.containers.Container
    ip: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.ip}:{self.port}"


def start_standalone(ctx, role: str):
    """`docker run -d` of the role's image with its own CMD: no ports, no extra env."""
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
    ctx.shared[f"{role}_started"] = time.monotonic()
    return container


@provides("mlapp_container", blame="2.api-answers", depends=("mlapp_image",))
def mlapp_container(ctx):
    return start_standalone(ctx, "mlapp")


@provides("mlflow_container", blame="5.healthy", depends=("mlflow_image",))
def mlflow_container(ctx):
    return start_standalone(ctx, "mlflow")


def _seconds(start: str, end: str) -> float | None:
    def parse(value: str) -> dt.datetime:
        head, _, frac = value.rstrip("Z").partition(".")
        return dt.datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}")
    try:
        return max((parse(end) - parse(start)).total_seconds(), 0.0)
    except ValueError:
        return None


def log_tail(container, lines: int = LOG_TAIL) -> str:
    try:
        return container.logs(tail=lines).decode("utf-8", "replace").rstrip()
    except (APIError, RequestException):
        return ""


def exited_error(container, *, blame: str | None = None) -> ResourceError:
    """A ResourceError saying when and how the container exited, with its last log lines."""
    state = container.attrs.get("State") or {}
    code = state.get("ExitCode")
    after = _seconds(state.get("StartedAt", ""), state.get("FinishedAt", ""))
    if after is None:
        when = "after start"
    elif after < 1:
        when = "within a second of starting"
    else:
        when = f"{after:.0f} second{'s' if round(after) != 1 else ''} after start"
    tail = log_tail(container)
    last = next((line for line in reversed(tail.splitlines()) if line.strip()), "(no output)")
    oom = " (killed: out of memory)" if state.get("OOMKilled") else ""
    return ResourceError(
        f"the container exited {when} with code {code}{oom}; last log line: {last.strip()[:300]}",
        blame=blame, expected="a server that keeps running", details=f"last {LOG_TAIL} log lines:\n{tail}")


def ensure_running(container, *, blame: str | None = None) -> None:
    try:
        container.reload()
    except NotFound:
        raise ResourceError("the container is gone (removed while the grader ran)", blame=blame) from None
    if container.status not in ("running", "restarting"):
        raise exited_error(container, blame=blame)


def container_ip(container) -> str | None:
    settings = container.attrs.get("NetworkSettings") or {}
    if settings.get("IPAddress"):
        return settings["IPAddress"]
    for network in (settings.get("Networks") or {}).values():
        if network.get("IPAddress"):
            return network["IPAddress"]
    return None


def exposed_ports(attrs: dict) -> list[int]:
    """TCP ports the image EXPOSEs (Config.ExposedPorts), in order."""
    ports = (attrs.get("Config") or {}).get("ExposedPorts") or {}
    return sorted(int(p.split("/")[0]) for p in ports if p.endswith("/tcp"))


def reachable(host: str) -> bool:
    """A listening address other containers can reach (not loopback only)."""
    return not host.startswith(LOOPBACK)


def serving_port(listening: list[tuple[str, int]], exposed: list[int]) -> int | None:
    """The port the server serves: an EXPOSEd one it listens on, else the lowest it listens on."""
    ports = sorted({port for _, port in listening})
    for port in exposed:
        if port in ports:
            return port
    open_ports = sorted({port for host, port in listening if reachable(host)})
    return (open_ports or ports or [None])[0]


def listening_now(container, *, blame: str | None = None) -> list[tuple[str, int]]:
    """probes.listeners, but a container that exits meanwhile is reported as having exited."""
    try:
        return probes.listeners(container)
    except ResourceError:
        # A dying container fails the exec before its state says so: let the state settle.
        for _ in range(6):
            ensure_running(container, blame=blame)  # raises with the exit code once it has stopped
            time.sleep(0.5)
        raise


def wait_listening(ctx, container, *, role: str, blame: str | None = None) -> list[tuple[str, int]]:
    """Listening TCP sockets once there are any (bounded by the ready timeout since start)."""
    deadline = ctx.shared.get(f"{role}_started", time.monotonic()) + ctx.options.timeout("ready")
    while True:
        ensure_running(container, blame=blame)
        found = listening_now(container, blame=blame)
        if found or time.monotonic() >= deadline:
            return found
        time.sleep(1)


LOOPBACK_SETTLE = 10.0  # seconds a loopback-only listener is given before the grader stops waiting


def wait_api(ctx, container, *, what: str, exposed: list[int], started: float | None = None,
             blame: str | None = None) -> Endpoint:
    """Wait until `container` answers GET /health with 200 on its own non-loopback IP.

    `what` names it in messages; `started` (monotonic) is when it started, for the ready timeout.
    """
    timeout = ctx.options.timeout("ready")
    deadline = max((started or time.monotonic()) + timeout, time.monotonic() + 5)
    seen, last, loopback_since = [], "no probe ran", None
    while True:
        ensure_running(container, blame=blame)
        ip = container_ip(container)
        seen = listening_now(container, blame=blame)
        port = serving_port(seen, exposed)
        if ip and port:
            answer = probes.http(container, f"http://{ip}:{port}/health", timeout=5)
            if answer.get("status") == 200:
                ctx.event("ready", f"{what} answers on port {port}")
                return Endpoint(container=container, ip=ip, port=port)
            last = f"GET http://{ip}:{port}/health -> {answer.get('status') or answer.get('error')}"
        # A server bound to loopback only does not rebind later: say so now, not at the timeout.
        if seen and not any(reachable(h) for h, _ in seen):
            loopback_since = loopback_since or time.monotonic()
            if time.monotonic() - loopback_since >= LOOPBACK_SETTLE:
                break
        else:
            loopback_since = None
        if time.monotonic() >= deadline:
            break
        time.sleep(1)
    where = ", ".join(f"{h}:{p}" for h, p in seen) or "no TCP port"
    loopback = seen and not any(reachable(h) for h, _ in seen)
    why = " (loopback only: other containers cannot reach it)" if loopback else ""
    waited = f"{LOOPBACK_SETTLE:.0f} s after it started listening" if loopback_since else f"{timeout:.0f} s"
    raise ResourceError(
        f"the {what} container did not answer GET /health with 200 within {waited}: it listens on "
        f"{where}{why}; last probe: {last}", blame=blame,
        expected="GET /health on the container's IP to answer 200", details=log_tail(container))


def role_api(ctx, role: str, *, blame: str) -> Endpoint:
    """wait_api for the role's standalone container, on the ports its image EXPOSEs."""
    return wait_api(ctx, ctx.get(f"{role}_container"), what=role, exposed=exposed_ports(ctx.get(f"{role}_image").attrs),
                    started=ctx.shared.get(f"{role}_started"), blame=blame)


@provides("mlapp_api", blame="2.api-answers", depends=("mlapp_container",))
def mlapp_api(ctx) -> Endpoint:
    return role_api(ctx, "mlapp", blame="2.api-answers")


@provides("mlflow_api", blame="5.healthy", depends=("mlflow_container",))
def mlflow_api(ctx) -> Endpoint:
    return role_api(ctx, "mlflow", blame="5.healthy")


@dataclass(frozen=True)
class Health:
    status: str               # healthy | unhealthy | starting | none | exited
    seconds: float            # since the container started
    budget: float             # what the HEALTHCHECK itself allows
    last_output: str


def healthcheck_budget(config: dict) -> float:
    """start-period + interval x retries + timeout, as the image's HEALTHCHECK sets them."""
    check = config.get("Healthcheck") or {}
    ns = 1e9
    interval = (check.get("Interval") or 30 * ns) / ns
    timeout = (check.get("Timeout") or 30 * ns) / ns
    start = (check.get("StartPeriod") or 0) / ns
    retries = check.get("Retries") or 3
    return start + interval * retries + timeout


def wait_healthy(ctx, container, *, role: str, config: dict) -> Health:
    """Poll the container's health until healthy, unhealthy, exit, or its own budget passes."""
    started = ctx.shared.get(f"{role}_started", time.monotonic())
    budget = min(healthcheck_budget(config), ctx.options.timeout("ready"))
    while True:
        try:
            container.reload()
        except NotFound:
            return Health("exited", time.monotonic() - started, budget, "the container is gone")
        health = (container.attrs.get("State") or {}).get("Health") or {}
        status = "exited" if container.status not in ("running", "restarting") else health.get("Status", "none")
        results = health.get("Log") or []
        output = (results[-1].get("Output") or "").strip() if results else ""
        elapsed = time.monotonic() - started
        if status in ("healthy", "unhealthy", "none", "exited") or elapsed >= budget:
            return Health(status, elapsed, budget, output)
        time.sleep(1)
