"""The compose stack under test: a per-run project with an override file, up and healthy."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from docker.errors import APIError, NotFound

from grader import wait
from grader.docker import policy
from grader.docker.compose import ComposeModel, run_compose
from grader.docker.service import Service, exposed_ports
from grader.errors import ResourceError
from grader.options import Limits
from grader.resources import provides

log = logging.getLogger(__name__)

GOOD = ("running", "running+healthy")
SETTLE_S = 3


class _Reset:
    """`!reset` in the override: compose drops the key (or empties the list) from the base file."""

    def __init__(self, empty_list: bool):
        self.empty_list = empty_list


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data) -> bool:  # plain YAML: no &anchors/*aliases for compose to resolve
        return True


_Dumper.add_representer(
    _Reset, lambda d, r: d.represent_sequence("!reset", []) if r.empty_list else d.represent_scalar("!reset", ""))
RESET_LIST, RESET_VALUE = _Reset(True), _Reset(False)


def override(model: ComposeModel, *, labels: dict[str, str], name, images: dict[str, str],
             limits: Limits) -> dict:
    """The override that isolates a run: no host ports or fixed names, per-run images/networks/volumes."""
    services = {}
    for svc_name, svc in model.services.items():
        spec: dict = {"ports": RESET_LIST, "container_name": RESET_VALUE, "labels": dict(labels),
                      "pull_policy": "never"}
        if svc_name in images:
            spec["image"] = images[svc_name]
        if svc.get("container_name"):
            # Keep a student's container_name reachable by DNS although the real name is per run.
            spec["networks"] = {net: {"aliases": [svc["container_name"]]} for net in model.networks(svc_name)}
        wanted = limits.compose_limits()
        if wanted:
            # deploy limits and the short keys must agree, so the short keys go (compose refuses both).
            for key, short in (("memory", "mem_limit"), ("cpus", "cpus"), ("pids", "pids_limit")):
                if key in wanted:
                    spec[short] = RESET_VALUE
            spec["deploy"] = {"resources": {"limits": wanted}}
        services[svc_name] = spec
    result: dict = {"services": services}
    for kind, declared in (("networks", model.networks_declared), ("volumes", model.volumes_declared)):
        if declared:
            # An explicit per-run name: a student's fixed `name:` must not reach their real data.
            result[kind] = {key: {"name": name(f"{kind[:3]}-{key}"), "labels": dict(labels)}
                            for key in sorted(declared)}
    return result


def dump(data: dict) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False)


def prepare_bind_sources(model: ComposeModel) -> list[Path]:
    """Create bind-mount sources inside the workspace, world-writable: the API runs as a non-root user."""
    made = []
    root = Path(os.path.realpath(model.workspace))
    for svc_name in model.active_services():
        for mount in model.mounts(svc_name):
            if mount.type != "bind" or not mount.source:
                continue
            source = Path(os.path.realpath(mount.source))
            if source != root and root not in source.parents:
                continue
            if not source.exists():
                source.mkdir(parents=True)
                made.append(source)
                for parent in [source, *source.parents]:
                    if parent == root:
                        break
                    parent.chmod(0o777)  # chmod, not mkdir's mode: the umask would narrow it
            elif source.is_dir():
                # Files already there (e.g. a committed api.log) must take the container user's appends.
                for path in [source, *source.rglob("*")]:
                    if not path.is_symlink():
                        path.chmod(0o777 if path.is_dir() else 0o666)
    return made


@dataclass
class Stack:
    """The running project: compose commands on it, its containers, probes from inside them."""

    ctx: object
    project: str
    model: ComposeModel
    files: tuple[Path, ...]
    profiles: tuple[str, ...] = ()
    up_seconds: float | None = None
    started: float = field(default_factory=time.monotonic)       # when the last `up` began
    _ports: dict[str, int] = field(default_factory=dict)         # role -> port it serves on

    # -- compose ------------------------------------------------------------------------------
    def compose(self, *args: str, timeout: float = 120):
        base = ["-p", self.project, "--project-directory", str(self.model.workspace)]
        for file in self.files:
            base += ["-f", str(file)]
        for profile in self.profiles:
            base += ["--profile", profile]
        return run_compose([*base, *args], timeout=timeout, cwd=self.model.workspace)

    def down(self, *, volumes: bool = False, timeout: float = 120) -> None:
        args = ["down", "--remove-orphans", "--timeout", "10"] + (["-v"] if volumes else [])
        result = self.compose(*args, timeout=timeout)
        if result.returncode != 0:
            raise ResourceError(f"`docker compose down` failed: {result.stderr.strip()[-300:]}")

    def up(self) -> float:
        """`up -d --no-build`, then wait until both roles run and are healthy; seconds taken."""
        timeout = self.ctx.options.timeout("stack_up")
        started = self.started = time.monotonic()
        args = ["up", "-d", "--no-build", "--pull", "never", "--remove-orphans"]
        result = None
        try:
            result = self.compose(*args, timeout=timeout)
        except ResourceError as exc:
            self._fail(f"`docker compose up` {exc.message}", up_output="")
        if result.returncode != 0:
            self._fail("`docker compose up` failed", up_output=result.stderr)
        remaining = max(timeout - (time.monotonic() - started), 10)
        self.wait_healthy(timeout=remaining)
        self.up_seconds = round(time.monotonic() - started, 1)
        return self.up_seconds

    # -- containers ----------------------------------------------------------------------------
    def containers(self, service: str) -> list:
        filters = {"label": [f"com.docker.compose.project={self.project}",
                             f"com.docker.compose.service={service}",
                             "com.docker.compose.oneoff=False"]}
        return self.ctx.docker.containers.list(all=True, filters=filters)

    def container(self, service: str):
        found = self.containers(service)
        if not found:
            raise ResourceError(f"service {service} has no container in the stack")
        running = [c for c in found if c.status == "running"]
        return (running or found)[0]

    @staticmethod
    def state(container) -> str:
        """running+healthy | running (no healthcheck) | running+starting | exited (code N) | ..."""
        container.reload()
        st = container.attrs["State"]
        health = (st.get("Health") or {}).get("Status")
        if st.get("Status") == "running":
            return f"running+{health}" if health else "running"
        if st.get("Status") == "exited":
            return f"exited (code {st.get('ExitCode')})"
        return st.get("Status", "unknown")

    @staticmethod
    def hopeless(container, state: str) -> bool:
        """Will not get better by waiting: unhealthy, exited for good, or crash-looping."""
        if state == "running+unhealthy":
            return True
        policy = ((container.attrs.get("HostConfig") or {}).get("RestartPolicy") or {}).get("Name") or "no"
        if state.startswith("exited") and policy == "no":
            return True
        return int(container.attrs.get("RestartCount") or 0) >= 3

    def wait_healthy(self, *, timeout: float) -> None:
        """Wait (at most `timeout` seconds) until both roles run, healthy where they have a healthcheck.

        A service without a healthcheck must still be running SETTLE_S seconds later. ResourceError
        names the first service that did not make it, with `compose ps` and its logs.
        """
        roles = {self.model.mlapp: "API", self.model.mlflow: "MLflow"}

        def probe() -> tuple[dict[str, str], list[str]]:
            states, broken = {}, []
            for service in roles:
                try:
                    container = self.container(service)
                    states[service] = self.state(container)
                    if self.hopeless(container, states[service]):
                        broken.append(service)
                except (ResourceError, NotFound, APIError) as exc:
                    states[service] = f"missing ({getattr(exc, 'message', exc)})"
            return states, broken

        def good(states: dict[str, str]) -> bool:
            return all(s in GOOD for s in states.values())

        states, broken = wait.poll(probe, timeout=timeout, until=lambda v: v[1] or good(v[0]))
        if good(states) and "running" in states.values():  # no healthcheck: it must hold a moment later
            time.sleep(SETTLE_S)
            states, broken = probe()
        if good(states):
            return
        bad = broken[0] if broken else next(svc for svc, s in states.items() if s not in GOOD)
        when = "" if broken else f" after {timeout:.0f} s"
        self._fail(f"{roles[bad]} service `{bad}` is {states[bad]}{when}", up_output="", service=bad)

    def _fail(self, message: str, *, up_output: str, service: str | None = None) -> None:
        if service is None:
            service = self._unhealthy_role()
            if service:
                role = "MLflow" if service == self.model.mlflow else "API"
                message += f": {role} service `{service}` is {self._describe(service)}"
            lines = [ln.strip() for ln in up_output.strip().splitlines() if ln.strip()]
            if lines:
                message += f" (compose: {lines[-1][:200]})"
        evidence = []
        if up_output.strip():
            evidence.append("$ docker compose up -d\n" + "\n".join(up_output.strip().splitlines()[-15:]))
        try:
            ps = self.compose("ps", "-a", "--format", "table {{.Service}}\t{{.State}}\t{{.Status}}", timeout=30)
            evidence.append("$ docker compose ps -a\n" + (ps.stdout.strip() or ps.stderr.strip()))
            if service:
                logs = self.compose("logs", "--no-color", "--tail", "30", service, timeout=30)
                evidence.append(f"$ docker compose logs --tail 30 {service}\n" + logs.stdout.strip()[-4000:])
        except ResourceError as exc:
            evidence.append(exc.message)
        raise ResourceError(f"the stack did not come up healthy: {message}",
                            expected="both services running and healthy",
                            details="\n\n".join(evidence))

    def _describe(self, service: str) -> str:
        try:
            return self.state(self.container(service))
        except (ResourceError, NotFound, APIError):
            return "not created"

    def _unhealthy_role(self) -> str | None:
        for service in (self.model.mlflow, self.model.mlapp):
            if self._describe(service) not in GOOD:
                return service
        return None

    # -- services ------------------------------------------------------------------------------
    def service(self, role: str, *, serving: bool = True) -> Service:
        """The running container of a role (`mlapp` or `mlflow`) as a Service.

        With `serving`, its port is found (what it listens on, preferring the ports its image
        EXPOSEs and the compose file declares) and remembered for the rest of the run.
        """
        name = getattr(self.model, role)
        container = self.container(name)
        preferred = sorted(set(exposed_ports(container.attrs)) | set(self.model.declared_ports(name)))
        found = Service(container=container, role=role, name=name, preferred_ports=tuple(preferred),
                        started=self.started, blame="7.stack-healthy", port=self._ports.get(role))
        if serving and found.port is None:
            # Without a healthcheck "running" may come before the server listens: give it the ready time.
            self._ports[role] = found.serving(timeout=self.ctx.options.timeout("ready"))
        return found

    @property
    def tracking_uri(self) -> str | None:
        """MLFLOW_TRACKING_URI as the API container sees it (image ENV and compose environment)."""
        return self.service("mlapp", serving=False).env().get("MLFLOW_TRACKING_URI", "").strip() or None


@provides("stack", blame="7.stack-healthy", depends=("compose", "stack_images"))
def stack(ctx) -> Stack:
    model: ComposeModel = ctx.get("compose")
    policy.enforce(model, instructor=ctx.options.instructor)
    images = {svc: image.tag for svc, image in ctx.get("stack_images").items()}
    data = override(model, labels=ctx.labels, name=ctx.name, images=images, limits=ctx.options.limits)
    path = ctx.scratch / "compose.override.yml"
    path.write_text(dump(data), encoding="utf-8")
    prepare_bind_sources(model)
    result = Stack(ctx=ctx, project=ctx.name("stack"), model=model, files=(model.file, path),
                   profiles=tuple(model.role_profiles()))
    # Registered before `up`, so a half-started stack is taken down too.
    ctx.defer(f"compose down {result.project}", lambda: result.down(volumes=True))
    seconds = result.up()
    ctx.event("stack", f"{result.project}: both services healthy in {seconds:.1f} s")
    return result
