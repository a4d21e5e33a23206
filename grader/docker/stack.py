"""The compose stack under test: a per-run project with an override file, up and healthy."""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from docker.errors import APIError, NotFound

from grader import wait
from grader.constants import MLFLOW_SERVER_ENV, ROLES
from grader.docker import policy
from grader.docker.compose import ComposeModel, run_compose
from grader.docker.service import Service, exited_error, exposed_ports, log_tail
from grader.errors import ResourceError
from grader.options import LOG_FILE_SIZE, LOG_FILES, Limits
from grader.resources import provides

log = logging.getLogger(__name__)

GOOD = ("running", "running+healthy")
SETTLE_S = 3
CRASH_LOOP = 3  # restarts by its restart policy after which a container is crash-looping, never up


class _Reset:
    """`!reset` in the override: compose drops the key (or empties the list) from the base file."""

    def __init__(self, empty_list: bool):
        self.empty_list = empty_list


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data) -> bool:  # plain YAML: no &anchors/*aliases for compose to resolve
        return True


# Plain scalars a YAML 1.2 reader (Compose's go-yaml) or a YAML 1.1 one resolves to something other
# than a string: numbers (with exponents, underscores, 0o/0x/0b in either case), booleans, null. PyYAML quotes only
# what YAML 1.1 resolves, so a run id such as `7635778e67` went out plain and Compose read the float
# 7.635778e+73: the stack's labels no longer named the run, and `cleanup --run` left it running
# (seen in test_kill under CI). Source: YAML 1.2.2, 10.3.2 "Tag Resolution"; YAML 1.1 bool/int/float types.
_NOT_A_STRING = re.compile(
    r"[-+]?(?:\.[0-9_]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9_]+)?|[-+]?0[oOxXbB][0-9a-fA-F_]+"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)|~|null|Null|NULL"
    r"|(?:true|false|yes|no|on|off|y|n)|(?:True|False|Yes|No|On|Off|Y|N)|(?:TRUE|FALSE|YES|NO|ON|OFF)")


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    """A string Compose reads back as the same string: quoted when it would resolve otherwise."""
    style = '"' if _NOT_A_STRING.fullmatch(value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(
    _Reset, lambda d, r: d.represent_sequence("!reset", []) if r.empty_list else d.represent_scalar("!reset", ""))
RESET_LIST, RESET_VALUE = _Reset(True), _Reset(False)


# Every network of a graded stack: containers reach each other (by service name) and nothing else.
# `internal` cuts the way out; `inhibit_ipv4` leaves the host's end of the bridge without an
# address, so the grading machine's own services are out of reach too (on Engine 20.10 an
# internal network still gives the host a gateway address containers can connect to).
ISOLATED_NETWORK = {"internal": True, "driver_opts": {"com.docker.network.bridge.inhibit_ipv4": "true"}}
# With no way out, a lookup of an outside name fails: in about a second instead of ten.
FAST_DNS_FAILURE = ["timeout:1", "attempts:1"]
# The json-file driver with a ring of files: a container that floods its output fills only that.
BOUNDED_LOGGING = {"driver": "json-file", "options": {"max-size": LOG_FILE_SIZE, "max-file": LOG_FILES}}


def override(model: ComposeModel, *, labels: dict[str, str], name, images: dict[str, str],
             limits: Limits, environment: dict[str, dict[str, str]] | None = None) -> dict:
    """The override that isolates a run: no host ports or fixed names, per-run images/networks/volumes,
    internal networks only, bounded logs, and the limits (memory without swap) when they are on.

    `images` and `environment` are keyed by service name; Compose merges `environment` into the
    service's own, variable by variable (the override's value wins)."""
    services = {}
    for svc_name, svc in model.services.items():
        spec: dict = {"ports": RESET_LIST, "container_name": RESET_VALUE, "labels": dict(labels),
                      "pull_policy": "never", "logging": dict(BOUNDED_LOGGING), "dns_opt": list(FAST_DNS_FAILURE)}
        if svc_name in images:
            spec["image"] = images[svc_name]
        if (environment or {}).get(svc_name):
            spec["environment"] = dict(environment[svc_name])
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
            if "memory" in wanted:
                spec["memswap_limit"] = wanted["memory"]  # no swap beyond the memory limit
        services[svc_name] = spec
    result: dict = {"services": services}
    for kind, declared in (("networks", model.networks_declared), ("volumes", model.volumes_declared)):
        if declared:
            # An explicit per-run name: a student's fixed `name:` must not reach their real data.
            result[kind] = {key: {"name": name(f"{kind[:3]}-{key}"), "labels": dict(labels),
                                  **(ISOLATED_NETWORK if kind == "networks" else {})}
                            for key in sorted(declared)}
    return result


def dump(data: dict) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False)


# Host folders the labs tell students to create by hand before `docker compose up` (Lab 4:
# `mkdir -p logs && chmod a+w logs`): a fresh clone lacks them, so the grader does that step.
# Every other bind-mount source is left as a fresh clone has it: a missing one is created by
# Docker, owned by root, as on the student's machine (issue 9: the sandbox is not kinder).
LAB_PREPARED = ("logs",)


def prepare_bind_sources(model: ComposeModel) -> list[str]:
    """Do the labs' own preparation of bind-mount sources; return the sources (relative to the
    workspace) a fresh clone lacks and that Docker will therefore create itself, owned by root."""
    missing = []
    root = Path(os.path.realpath(model.workspace))
    for svc_name in model.active_services():
        for mount in model.mounts(svc_name):
            if mount.type != "bind" or not mount.source:
                continue
            source = Path(os.path.realpath(mount.source))
            if source == root or root not in source.parents:
                continue
            relative = str(source.relative_to(root))
            if relative in LAB_PREPARED:  # `mkdir -p logs && chmod a+w logs`, whether it was there or not
                source.mkdir(parents=True, exist_ok=True)
                source.chmod(0o777)  # chmod, not mkdir's mode: the umask would narrow it
            elif not source.exists():
                missing.append(relative)
    return sorted(set(missing))


def stack_faults(model: ComposeModel) -> list[str]:
    """What stops `docker compose up` on the student's machine although the grader's override hides
    it (the grader drops published ports and container names so runs never collide): two services
    publishing one host port, one container_name used twice."""
    faults, seen = [], {}
    for name in model.active_services():
        for port in model.service(name).get("ports") or []:
            if not port.get("published"):
                continue
            key = (port.get("host_ip") or "0.0.0.0", str(port["published"]), port.get("protocol") or "tcp")
            if key in seen and seen[key] != name:
                faults.append(f"services `{seen[key]}` and `{name}` both publish host port {key[1]}/{key[2]}: "
                              f"on your machine the second one cannot start (port is already allocated)")
            seen.setdefault(key, name)
    names: dict[str, str] = {}
    for name in model.active_services():
        fixed = model.service(name).get("container_name")
        if fixed and fixed in names:
            faults.append(f"services `{names[fixed]}` and `{name}` both set container_name `{fixed}`: "
                          f"the second one cannot be created (the name is already in use)")
        names.setdefault(fixed, name)
    return faults


@dataclass
class Stack:
    """The running project: compose commands on it, its containers, probes from inside them.

    `roles` maps each role the compose file has (`mlapp`, `mlflow`) to its service name. A role
    counts as up only while it keeps running and answers: healthy when it has a healthcheck, else
    its HTTP port answers from inside the project's network (issue 9); `baseline` records each
    role's container and restart count when the stack came up, so a later death is reported.
    """

    ctx: object
    project: str
    model: ComposeModel
    files: tuple[Path, ...]
    profiles: tuple[str, ...] = ()
    up_seconds: float | None = None
    started: float = field(default_factory=time.monotonic)       # when the last `up` began
    faults: tuple[str, ...] = ()                                  # stack_faults() of the compose file
    created_by_docker: tuple[str, ...] = ()                       # bind sources Docker made, root-owned
    _ports: dict[str, int] = field(default_factory=dict)         # role -> port it serves on
    baseline: dict[str, tuple[str, int]] = field(default_factory=dict)   # role -> (container id, restarts)

    @property
    def roles(self) -> dict[str, str]:
        return {role: getattr(self.model, role) for role in ROLES if getattr(self.model, role)}

    # -- compose ------------------------------------------------------------------------------
    def compose(self, *args: str, timeout: float = 120):
        base = ["-p", self.project, "--project-directory", str(self.model.workspace)]
        for file in self.files:
            base += ["-f", str(file)]
        for profile in self.profiles:
            base += ["--profile", profile]
        return run_compose([*base, *args], timeout=timeout, cwd=self.model.workspace)

    def down(self, *, volumes: bool = False, timeout: float = 120) -> None:
        """`docker compose down` at the end of a run: nothing is read from the stack any more, so its
        containers get no grace period (`--timeout 0`: SIGKILL at once; it saved 4 s per grade,
        issue 13). ResourceError when Compose fails; `timeout` bounds the command, in seconds."""
        args = ["down", "--remove-orphans", "--timeout", "0"] + (["-v"] if volumes else [])
        result = self.compose(*args, timeout=timeout)
        if result.returncode != 0:
            raise ResourceError(f"`docker compose down` failed: {result.stderr.strip()[-300:]}")

    def up(self, *services: str) -> float:
        """`up -d --no-build` (of `services`, else all), then wait until every role is up; seconds taken."""
        timeout = self.ctx.options.timeout("stack_up")
        started = self.started = time.monotonic()
        args = ["up", "-d", "--no-build", "--pull", "never", "--remove-orphans", *services]
        result = None
        try:
            result = self.compose(*args, timeout=timeout)
        except ResourceError as exc:
            self._fail(f"`docker compose up` {exc.message}", up_output="")
        if result.returncode != 0:
            self._fail("`docker compose up` failed", up_output=result.stderr)
        remaining = max(timeout - (time.monotonic() - started), 10)
        self.wait_ready(timeout=remaining)
        self.up_seconds = round(time.monotonic() - started, 1)
        return self.up_seconds

    def recreate(self, role: str) -> float:
        """Replace the role's container by a new one (its volumes stay), and wait until it is up again."""
        name = self.roles[role]
        started = time.monotonic()
        result = self.compose("rm", "--stop", "--force", name)  # named volumes stay; the container goes
        if result.returncode != 0:
            raise ResourceError(f"`docker compose rm --stop --force {name}` failed: {result.stderr.strip()[-300:]}")
        self._ports.pop(role, None)
        self.up(name)
        return round(time.monotonic() - started, 1)

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
        """Will not get better by waiting: unhealthy, exited for good, or crash-looping. An unhealthy
        container whose last check only exceeded its timeout (a busy machine) may still recover."""
        if state == "running+unhealthy":
            log = ((container.attrs.get("State") or {}).get("Health") or {}).get("Log") or []
            return not (log and "exceeded timeout" in (log[-1].get("Output") or ""))
        restart = (container.attrs.get("HostConfig") or {}).get("RestartPolicy") or {}
        policy, retries = restart.get("Name") or "no", int(restart.get("MaximumRetryCount") or 0)
        restarts = int(container.attrs.get("RestartCount") or 0)
        if state.startswith("exited"):
            code = int((container.attrs.get("State") or {}).get("ExitCode") or 0)
            # Docker restarts it no more: no policy, or on-failure after a clean exit or its last retry.
            if policy == "no" or (policy == "on-failure" and (code == 0 or 0 < retries <= restarts)):
                return True
        return restarts >= CRASH_LOOP

    def _answers(self, role: str) -> bool:
        """A role without a healthcheck is up once its HTTP port answers from inside the network."""
        service = self.service(role, serving=False, check=False)
        try:
            port = self._ports.get(role) or service.serving(timeout=0)
        except ResourceError:
            return False
        self._ports[role] = port
        answer = service.http(f"http://{service.ip}:{port}/", timeout=5)
        log.debug("%s answers? port %s of %s: %s", role, port, service.ip, answer)
        return answer.get("status") is not None

    def wait_ready(self, *, timeout: float) -> None:
        """Wait (at most `timeout` seconds) until every role is up: running, and healthy where it has
        a healthcheck or answering HTTP where it has none; then still so SETTLE_S seconds later.

        ResourceError names the first service that did not make it, with `compose ps` and its logs.
        """
        roles = {name: role for role, name in self.roles.items()}
        label = {"mlapp": "API", "mlflow": "MLflow"}

        def probe() -> tuple[dict[str, str], list[str]]:
            states, broken = {}, []
            for service, role in roles.items():
                try:
                    container = self.container(service)
                    states[service] = self.state(container)
                    if self.hopeless(container, states[service]):
                        broken.append(service)
                        restarts = int(container.attrs.get("RestartCount") or 0)
                        if states[service].startswith("exited") and restarts:  # its policy gave up
                            states[service] += f", restarted {restarts} time(s), then stopped"
                        elif restarts >= CRASH_LOOP:  # "running" between two crashes is not up (nor GOOD)
                            states[service] += f", crash-looping ({restarts} restarts)"
                    elif states[service] == "running" and not self._answers(role):
                        states[service] = "running, not answering HTTP yet"
                except (ResourceError, NotFound, APIError) as exc:
                    states[service] = f"missing ({getattr(exc, 'message', exc)})"
            log.debug("stack %s: %s%s", self.project, states, f", hopeless: {broken}" if broken else "")
            return states, broken

        def good(states: dict[str, str]) -> bool:
            return all(s in GOOD for s in states.values())

        states, broken = wait.poll(probe, timeout=timeout, until=lambda v: v[1] or good(v[0]))
        if good(states) and not broken:
            self.baseline = {role: (c.id, int(c.attrs.get("RestartCount") or 0))
                             for role, c in ((r, self.container(n)) for r, n in self.roles.items())}
            time.sleep(SETTLE_S)  # it must keep running: a server that dies at once is not up
            for role, name in self.roles.items():
                try:
                    self.check_alive(role)
                except ResourceError as exc:
                    self._fail(f"{exc.message} (it had answered {SETTLE_S} s earlier)", up_output="", service=name)
            return
        bad = broken[0] if broken else next(svc for svc, s in states.items() if s not in GOOD)
        when = "" if broken else f" after {timeout:.0f} s"
        self._fail(f"{label[roles[bad]]} service `{bad}` is {states[bad]}{when}", up_output="", service=bad)

    def check_alive(self, role: str) -> None:
        """ResourceError (blamed on 7.stack-healthy) when the role's container is no longer the running
        one the stack came up with: it exited, or restarted since; with its exit code and last log lines."""
        name = self.roles.get(role)
        if name is None:
            self.model.require(role)
        label = {"mlapp": "API", "mlflow": "MLflow"}[role]
        container = self.container(name)
        container.reload()
        first_id, restarts = self.baseline.get(role, (container.id, int(container.attrs.get("RestartCount") or 0)))
        now = int(container.attrs.get("RestartCount") or 0)
        if container.status not in ("running", "restarting"):
            raise exited_error(container, blame="7.stack-healthy", what=f"the {label} service `{name}`")
        # "restarting" is a container that exited and waits for its restart policy: it crashed too.
        if container.id == first_id and (now > restarts or container.status == "restarting"):
            state = container.attrs.get("State") or {}
            tail = log_tail(container)
            last = next((ln for ln in reversed(tail.splitlines()) if ln.strip()), "(no output)")
            what = f"crashed and restarted {now - restarts} time(s)" if now > restarts else "crashed and is restarting"
            raise ResourceError(f"the {label} service `{name}` {what} "
                                f"since the stack came up (last exit code {state.get('ExitCode')}); last log "
                                f"line: {last.strip()[:300]}", blame="7.stack-healthy",
                                expected="a server that keeps running", details=f"last log lines:\n{tail}")

    def _fail(self, message: str, *, up_output: str, service: str | None = None) -> None:
        if service is None:
            service = self._unhealthy_role()
            if service:
                role = "MLflow" if service == self.model.mlflow else "API"
                message += f": {role} service `{service}` is {self._describe(service)}"
            lines = [ln.strip() for ln in up_output.strip().splitlines() if ln.strip()]
            if lines:
                message += f" (compose: {lines[-1][:200]})"
        if service:
            try:
                tail = log_tail(self.container(service))
            except (ResourceError, NotFound, APIError):
                tail = ""
            last = next((ln.strip() for ln in reversed(tail.splitlines()) if ln.strip()), None)
            if last and last[:200] not in message:
                message += f"; its last log line: {last[:300]}"
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
        raise ResourceError(f"the stack did not come up: {message}",
                            expected="every service running and answering (healthy where it has a healthcheck)",
                            details="\n\n".join(evidence))

    def _describe(self, service: str) -> str:
        try:
            return self.state(self.container(service))
        except (ResourceError, NotFound, APIError):
            return "not created"

    def _unhealthy_role(self) -> str | None:
        for service in self.roles.values():
            if self._describe(service) not in GOOD:
                return service
        return None

    # -- services ------------------------------------------------------------------------------
    def service(self, role: str, *, serving: bool = True, check: bool = True) -> Service:
        """The running container of a role (`mlapp` or `mlflow`) as a Service.

        With `check`, a service that died or restarted since the stack came up raises ResourceError
        saying so (check_alive). With `serving`, its port is found (what it listens on, preferring the
        ports its image EXPOSEs and the compose file declares) and remembered for the rest of the run.
        """
        if role not in self.roles:
            self.model.require(role)
        if check:
            self.check_alive(role)
        name = self.roles[role]
        container = self.container(name)
        preferred = sorted(set(exposed_ports(container.attrs)) | set(self.model.declared_ports(name)))
        found = Service(container=container, role=role, name=name, preferred_ports=tuple(preferred),
                        started=self.started, blame="7.stack-healthy", port=self._ports.get(role),
                        deadline=self.ctx.deadline)
        if serving and found.port is None:
            # Without a healthcheck "running" may come before the server listens: give it the ready time.
            self._ports[role] = found.serving(timeout=self.ctx.options.timeout("ready", capped=False))
        return found

    @property
    def tracking_uri(self) -> str | None:
        """MLFLOW_TRACKING_URI as the API container sees it (image ENV and compose environment)."""
        return self.service("mlapp", serving=False).env().get("MLFLOW_TRACKING_URI", "").strip() or None

    def published_ports(self, role: str) -> list[int]:
        """Host ports the compose file publishes for a role's service (the grader's own run publishes none)."""
        name = self.roles.get(role)
        return sorted({int(p["published"]) for p in (self.model.service(name).get("ports") or [])
                       if name and str(p.get("published") or "").isdigit()})


@provides("stack", blame="7.stack-healthy", depends=("compose", "stack_images"), releasable=True)
def stack(ctx) -> Stack:
    model: ComposeModel = ctx.get("compose")
    if not any(getattr(model, role) for role in ROLES):
        model.require(*ROLES)  # raises: no service builds either Dockerfile
    policy.enforce(model, instructor=ctx.options.instructor, blame="7.stack-healthy", warn=ctx.warn)
    images = {svc: image.tag for svc, image in ctx.get("stack_images").items()}
    environment = {model.mlflow: dict(MLFLOW_SERVER_ENV)} if model.mlflow else {}
    data = override(model, labels=ctx.labels, name=ctx.name, images=images, limits=ctx.options.limits,
                    environment=environment)
    path = ctx.scratch / "compose.override.yml"
    path.write_text(dump(data), encoding="utf-8")
    created = prepare_bind_sources(model)
    result = Stack(ctx=ctx, project=ctx.name("stack"), model=model, files=(model.file, path),
                   profiles=tuple(model.role_profiles()), faults=tuple(stack_faults(model)),
                   created_by_docker=tuple(created))
    # Registered before `up`, so a half-started stack is taken down too.
    ctx.defer(f"compose down {result.project}", lambda: result.down(volumes=True))
    seconds = result.up()
    ctx.event("stack", f"{result.project}: {', '.join(result.roles.values())} up in {seconds:.1f} s")
    return result
