"""One shape for a running service: a container of a role that serves HTTP (issue 8, step 2).

The same object stands for a standalone container of a built image (grader.docker.containers) and for a
service of the compose stack (grader.docker.stack), after docker-py's `models/resource.py` (a model
wrapping the engine's attributes, refreshed by an explicit `reload()`) and testinfra's `host`
(probes run from inside the container, so no host port is ever needed).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field

from docker.errors import NotFound

from grader import wait
from grader.docker import probes
from grader.errors import ResourceError

log = logging.getLogger(__name__)

LOOPBACK = ("127.", "::1", "::ffff:127.")
ALL_INTERFACES = ("0.0.0.0", "::")
LOG_TAIL = 20                 # log lines quoted when a container exits
LOOPBACK_SETTLE = 10.0        # seconds a loopback-only listener is given before the grader stops waiting


def reachable(host: str) -> bool:
    """A listening address other containers can reach (not loopback only)."""
    return not host.startswith(LOOPBACK)


def serving_port(listening: list[tuple[str, int]], preferred) -> int | None:
    """The port a server serves: a preferred (EXPOSEd or declared) one it listens on, else the lowest
    reachable one, else the lowest at all; None when it listens on nothing."""
    ports = sorted({port for _, port in listening})
    for port in preferred:
        if port in ports:
            return port
    open_ports = sorted({port for host, port in listening if reachable(host)})
    return (open_ports or ports or [None])[0]


def exposed_ports(attrs: dict) -> list[int]:
    """TCP ports an image or container EXPOSEs (`Config.ExposedPorts`), in order."""
    ports = (attrs.get("Config") or {}).get("ExposedPorts") or {}
    return sorted(int(p.split("/")[0]) for p in ports if p.endswith("/tcp"))


def container_ip(container) -> str | None:
    """The container's IP address on the default bridge, else on its first network with one."""
    settings = container.attrs.get("NetworkSettings") or {}
    if settings.get("IPAddress"):
        return settings["IPAddress"]
    for name in sorted(settings.get("Networks") or {}):
        address = settings["Networks"][name].get("IPAddress")
        if address:
            return address
    return None


def _seconds(start: str, end: str) -> float | None:
    """Seconds between two of the engine's RFC 3339 timestamps (nanosecond precision), or None."""
    def parse(value: str) -> dt.datetime:
        head, _, frac = value.rstrip("Z").partition(".")
        return dt.datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}")
    try:
        return max((parse(end) - parse(start)).total_seconds(), 0.0)
    except ValueError:
        return None


def log_tail(container, lines: int = LOG_TAIL) -> str:
    """The last `lines` lines of a container's output, at most probes.LOG_MAX_BYTES ("" when the
    engine cannot give them)."""
    return probes.read_logs(container, tail=lines).rstrip()


def exited_error(container, *, blame: str | None = None, what: str = "the container") -> ResourceError:
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
        f"{what} exited {when} with code {code}{oom}; last log line: {last.strip()[:300]}",
        blame=blame, expected="a server that keeps running", details=f"last {LOG_TAIL} log lines:\n{tail}")


@dataclass(frozen=True)
class Health:
    """A container's Docker health as the grader last saw it."""

    status: str               # healthy | unhealthy | starting | none | exited
    seconds: float            # since the container started
    budget: float             # what the HEALTHCHECK itself allows (seconds)
    last_output: str          # the healthcheck command's last output


def healthcheck_budget(config: dict) -> float:
    """Seconds a HEALTHCHECK allows before `unhealthy`: start-period + interval x retries + timeout.

    `config` is an image's or container's `Config`; missing values take Docker's defaults (30 s
    interval, 30 s timeout, no start period, 3 retries: Dockerfile reference, HEALTHCHECK).
    """
    check = config.get("Healthcheck") or {}
    ns = 1e9
    interval = (check.get("Interval") or 30 * ns) / ns
    timeout = (check.get("Timeout") or 30 * ns) / ns
    start = (check.get("StartPeriod") or 0) / ns
    retries = check.get("Retries") or 3
    return start + interval * retries + timeout


def has_healthcheck(config: dict) -> bool:
    test = (config.get("Healthcheck") or {}).get("Test") or []
    return bool(test) and test[0] != "NONE"


@dataclass
class Service:
    """A running container of a role (`mlapp` or `mlflow`) that should serve HTTP.

    `name` is how messages call it (the role, or the compose service's name); `preferred_ports`
    are the ports its image EXPOSEs and its compose service declares, tried first when choosing
    the port it serves on; `started` is `time.monotonic()` when the grader started it (waits are
    bounded from then); `blame` is the rubric check whose hint explains a failure to run.
    `port` is None until `serving()` or `answering()` finds it. `deadline` is the run's time budget
    (a `time.monotonic()` value, None without one): every wait ends by then whatever its timeout, so
    callers pass timeouts not capped by the budget (`options.timeout(name, capped=False)`) and a wait
    the budget cut short ends at the deadline, where the run reports it as not checked.
    Methods raise ResourceError.
    """

    container: object                 # docker.models.containers.Container
    role: str
    name: str
    preferred_ports: tuple[int, ...] = ()
    started: float = field(default_factory=time.monotonic)
    blame: str | None = None
    port: int | None = None
    deadline: float | None = None

    # -- state --------------------------------------------------------------------------------
    def reload(self) -> Service:
        """Refresh the container's attributes; ResourceError when it is gone or no longer running."""
        try:
            self.container.reload()
        except NotFound:
            raise ResourceError(f"the {self.name} container is gone (removed while the grader ran)",
                                blame=self.blame) from None
        if self.container.status not in ("running", "restarting"):
            raise exited_error(self.container, blame=self.blame)
        return self

    @property
    def ip(self) -> str | None:
        return container_ip(self.container)

    @property
    def config(self) -> dict:
        return self.container.attrs.get("Config") or {}

    def env(self) -> dict[str, str]:
        """The container's environment (image ENV and what it was started with)."""
        return dict(item.partition("=")[::2] for item in self.config.get("Env") or [])

    def url(self, path: str = "") -> str:
        """http://<ip>:<port><path>, as other containers of its network reach it."""
        if self.port is None:
            raise ResourceError(f"the {self.name} container's serving port is not known yet", blame=self.blame)
        return f"http://{self.ip}:{self.port}{path}"

    def logs(self, *, tail: int | None = None) -> str:
        """The container's output (stdout and stderr): the last `tail` lines when given, else the
        last probes.LOG_MAX_LINES; at most probes.LOG_MAX_BYTES (the end) either way."""
        return probes.read_logs(self.container, tail=tail)

    # -- probes from inside ---------------------------------------------------------------------
    def exec_python(self, code: str, *, timeout: float = 30) -> tuple[int, str]:
        """probes.exec_python in this container: (exit code, output)."""
        return probes.exec_python(self.container, code, timeout=timeout)

    def http(self, url_or_path: str, **kwargs) -> dict:
        """An HTTP request made from inside the container (probes.http); a path means this service's URL."""
        url = self.url(url_or_path) if url_or_path.startswith("/") else url_or_path
        kwargs.setdefault("timeout", 10)
        return probes.http(self.container, url, **kwargs)

    def listeners(self) -> list[tuple[str, int]]:
        """TCP sockets in LISTEN state; a container that exits meanwhile raises as having exited."""
        try:
            return probes.listeners(self.container)
        except ResourceError:
            # A dying container fails the exec before its state says so: let the state settle.
            wait.poll(self.reload, timeout=3, interval=0.5, until=lambda _: False)
            raise

    # -- waits -----------------------------------------------------------------------------------
    def _remaining(self, timeout: float) -> float:
        """Seconds left of a wait of `timeout` seconds counted from the start, ending by the deadline."""
        end = self.started + timeout
        if self.deadline is not None:
            end = min(end, self.deadline)
        return max(end - time.monotonic(), 0.0)

    def wait_listening(self, *, timeout: float) -> list[tuple[str, int]]:
        """Listening sockets once there are any, within `timeout` seconds of the start ([] if none)."""
        def probe():
            self.reload()
            return self.listeners()
        return wait.poll(probe, timeout=self._remaining(timeout))

    def serving(self, *, timeout: float) -> int:
        """The port it serves on (reachable, preferring the declared ones); waits for a listener."""
        listening = self.wait_listening(timeout=timeout)
        port = serving_port([(h, p) for h, p in listening if reachable(h)], self.preferred_ports)
        if port is None:
            where = ", ".join(f"{h}:{p}" for h, p in listening) or "no TCP port"
            raise ResourceError(f"the {self.name} container listens on no port other containers can reach "
                                f"(it listens on {where})", blame=self.blame)
        self.port = port
        return port

    def answering(self, *, timeout: float, path: str = "/health") -> Service:
        """Wait until GET `path` answers 200 on the container's own non-loopback address; self.

        A server bound to loopback only does not rebind later: that is said after LOOPBACK_SETTLE
        seconds, not at the timeout. ResourceError says where it listens and what the last probe got.
        """
        state = {"seen": [], "last": "no probe ran", "loopback_since": None}

        def probe() -> bool:
            self.reload()
            seen = state["seen"] = self.listeners()
            port, ip = serving_port(seen, self.preferred_ports), self.ip
            if ip and port:
                answer = probes.http(self.container, f"http://{ip}:{port}{path}", timeout=5)
                if answer.get("status") == 200:
                    self.port = port
                    return True
                state["last"] = f"GET http://{ip}:{port}{path} -> {answer.get('status') or answer.get('error')}"
            if seen and not any(reachable(h) for h, _ in seen):
                state["loopback_since"] = state["loopback_since"] or time.monotonic()
                if time.monotonic() - state["loopback_since"] >= LOOPBACK_SETTLE:
                    raise StopIteration
            else:
                state["loopback_since"] = None
            return False

        try:
            floor = 5.0 if self.deadline is None else min(5.0, max(self.deadline - time.monotonic(), 0.0))
            if wait.poll(probe, timeout=max(self._remaining(timeout), floor), interval=1.0):
                return self
        except StopIteration:
            pass
        seen = state["seen"]
        where = ", ".join(f"{h}:{p}" for h, p in seen) or "no TCP port"
        loopback = bool(seen) and not any(reachable(h) for h, _ in seen)
        why = " (loopback only: other containers cannot reach it)" if loopback else ""
        waited = f"{LOOPBACK_SETTLE:.0f} s after it started listening" if loopback else f"{timeout:.0f} s"
        raise ResourceError(
            f"the {self.name} container did not answer GET {path} with 200 within {waited}: it listens on "
            f"{where}{why}; last probe: {state['last']}", blame=self.blame,
            expected=f"GET {path} on the container's IP to answer 200", details=log_tail(self.container))

    def health(self, *, budget: float) -> Health:
        """Poll Docker's health status until healthy, unhealthy, exited, or `budget` seconds since start
        (an `unhealthy` whose last check only exceeded its timeout is waited out within the budget)."""
        def probe() -> Health:
            elapsed = time.monotonic() - self.started
            try:
                self.container.reload()
            except NotFound:
                return Health("exited", elapsed, budget, "the container is gone")
            health = (self.container.attrs.get("State") or {}).get("Health") or {}
            running = self.container.status in ("running", "restarting")
            status = health.get("Status", "none") if running else "exited"
            results = health.get("Log") or []
            output = (results[-1].get("Output") or "").strip() if results else ""
            return Health(status, elapsed, budget, output)

        def final(h: Health) -> bool:
            # `unhealthy` is not final for Docker: a later check may pass. When the failing checks only
            # ran out of time (a busy machine), keep waiting within the budget; other failures are final.
            if h.status == "unhealthy":
                return "exceeded timeout" not in h.last_output
            return h.status in ("healthy", "none", "exited")

        return wait.poll(probe, timeout=self._remaining(budget), until=final)
