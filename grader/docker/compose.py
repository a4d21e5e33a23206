"""The compose model: `docker compose config` as data, with the API and MLflow roles found by Dockerfile."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from grader.constants import API_DOCKERFILE, COMPOSE_FILES, MLFLOW_DOCKERFILE, ROLES
from grader.docker import policy
from grader.errors import ResourceError
from grader.parse.dockerfiles import DockerfileModel
from grader.parse.shellwords import argv_words, option, substitute
from grader.resources import provides

log = logging.getLogger(__name__)

MLFLOW_DEFAULT_PORT = 5000


@functools.lru_cache(maxsize=1)
def compose_argv() -> tuple[str, ...]:
    """How to call Compose v2 here: the docker CLI plugin, else a standalone docker-compose."""
    docker = shutil.which("docker")
    if docker:
        try:
            probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30)
            if probe.returncode == 0:
                return (docker, "compose")
        except (OSError, subprocess.TimeoutExpired):
            pass
    for candidate in (shutil.which("docker-compose"), str(Path(sys.executable).with_name("docker-compose"))):
        if candidate and Path(candidate).is_file():
            return (candidate,)
    raise ResourceError("Docker Compose v2 is not installed: neither `docker compose` nor `docker-compose` "
                        "answers. Run `python -m grader doctor` for the fix.")


# What compose may see of the grader's environment: how to reach the engine and find the plugin.
# Nothing else, because compose interpolates `${VAR}` and passes value-less `environment:` entries
# from it: an instructor's AWS_SECRET_ACCESS_KEY must not reach a submission's containers (issue 14).
COMPOSE_ENV_KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "XDG_RUNTIME_DIR", "DOCKER_HOST",
                    "DOCKER_CONFIG", "DOCKER_CONTEXT", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY", "DOCKER_API_VERSION")


def compose_environment(environ=os.environ) -> dict[str, str]:
    """The environment compose runs with: COMPOSE_ENV_KEEP only (COMPOSE_FILE, COMPOSE_PROFILES and
    any secret of the caller's shell stay out)."""
    return {k: environ[k] for k in COMPOSE_ENV_KEEP if k in environ}


_PR_SET_PDEATHSIG = 1


@functools.lru_cache(maxsize=1)
def _prctl():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name, use_errno=True).prctl if name and sys.platform.startswith("linux") else None
    except (OSError, AttributeError):
        return None


def _die_with_parent() -> None:  # runs in the child between fork and exec: no locks, no imports
    prctl = _PRCTL
    if prctl is not None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


_PRCTL = _prctl()


def run_compose(args: list[str], *, timeout: float, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run compose with `args`; ResourceError if it does not finish within `timeout` seconds.

    Compose sees only COMPOSE_ENV_KEEP of the environment, and on Linux it is killed with the
    grader (PR_SET_PDEATHSIG): a grader killed with SIGKILL leaves no `up` running on its own.
    """
    argv = [*compose_argv(), *args]
    log.debug("running %s", shlex.join(argv))
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=cwd,
                              env=compose_environment(), preexec_fn=_die_with_parent if _PRCTL else None)
    except subprocess.TimeoutExpired:
        raise ResourceError(f"`docker compose {' '.join(args[:8])}` did not finish within {timeout:.0f} s") from None


@dataclass(frozen=True)
class Mount:
    type: str            # bind | volume | tmpfs | npipe | image
    source: str | None   # host path (bind), volume key (volume), None (anonymous, tmpfs)
    target: str
    read_only: bool = False


class ComposeModel:
    """The normalised compose project (`docker compose config --format json`) and its roles."""

    def __init__(self, *, data: dict, file: Path, workspace: Path):
        self.data = data
        self.file = file
        self.workspace = workspace
        self.services: dict[str, dict] = data.get("services") or {}
        self.networks_declared: dict[str, dict] = data.get("networks") or {}
        self.volumes_declared: dict[str, dict] = data.get("volumes") or {}
        self._dockerfiles: dict[Path, object] = {}
        self.mlapp = self._role(API_DOCKERFILE)
        self.mlflow = self._role(MLFLOW_DOCKERFILE)

    # -- roles -----------------------------------------------------------------------------
    def dockerfile_name(self, service: str) -> str | None:
        build = self.services[service].get("build")
        if not isinstance(build, dict):
            return None
        return PurePosixPath(build.get("dockerfile") or "Dockerfile").name

    def _role(self, dockerfile: str) -> str | None:
        candidates = [s for s in sorted(self.services) if self.dockerfile_name(s) == dockerfile]
        if not candidates:
            return None

        def rank(name: str) -> tuple:
            svc = self.services[name]
            # Long-running first: no profile (one-off jobs sit behind profiles), the image's own
            # command, then published ports; the name breaks ties so the choice is deterministic.
            return (bool(svc.get("profiles")), svc.get("command") is not None, not svc.get("ports"), name)

        return min(candidates, key=rank)

    def active_services(self) -> list[str]:
        """The services `up` starts: those without profiles, plus the roles whatever their profile."""
        return [s for s in sorted(self.services)
                if not self.services[s].get("profiles") or s in (self.mlapp, self.mlflow)]

    def role_profiles(self) -> list[str]:
        return sorted({self.services[n]["profiles"][0] for n in (self.mlapp, self.mlflow)
                       if n and self.services[n].get("profiles")})

    def require(self, *roles: str) -> tuple[str, ...]:
        """The service names of the given roles (`mlapp`, `mlflow`); ResourceError (blamed on
        6.valid) naming every role no service plays."""
        missing = [f"no service builds {ROLES[role]}" for role in roles if getattr(self, role) is None]
        if missing:
            raise ResourceError(
                f"{self.file.name}: {' and '.join(missing)}; services: {describe(self)}", blame="6.valid",
                expected=" and ".join(f"a service built from {ROLES[role]}" for role in roles))
        return tuple(getattr(self, role) for role in roles)

    # -- services --------------------------------------------------------------------------
    def service(self, name: str) -> dict:
        return self.services[name]

    def services_with_build(self) -> list[str]:
        return [s for s in self.active_services() if isinstance(self.services[s].get("build"), dict)]

    def build(self, service: str) -> dict:
        raw = self.services[service]["build"]
        context = Path(raw.get("context") or self.workspace)
        if not context.is_absolute():
            context = self.workspace / context
        args = {k: ("" if v is None else str(v)) for k, v in (raw.get("args") or {}).items()}
        return {"context": context, "dockerfile": raw.get("dockerfile") or "Dockerfile",
                "args": args, "target": raw.get("target")}

    def dockerfile_path(self, service: str) -> Path | None:
        if not isinstance(self.services[service].get("build"), dict):
            return None
        build = self.build(service)
        return build["context"] / build["dockerfile"]  # Path's `/` keeps an absolute dockerfile as is

    def image_model(self, service: str):
        """The DockerfileModel of the Dockerfile the service builds, or None if unreadable."""
        path = self.dockerfile_path(service)
        if path is None or not path.is_file():
            return None
        if path not in self._dockerfiles:
            try:
                model = DockerfileModel.from_path(path)
            except Exception as exc:  # an unreadable Dockerfile is reported by the build checks
                log.info("cannot parse %s: %s", path, exc)
                model = None
            self._dockerfiles[path] = model if model and model.stages else None
        return self._dockerfiles[path]

    # `config` gives every key in its long form: volumes as mappings, environment as a mapping.
    def mounts(self, service: str) -> list[Mount]:
        return [Mount(type=raw.get("type", "volume"), source=raw.get("source"), target=raw.get("target", ""),
                      read_only=bool(raw.get("read_only"))) for raw in self.services[service].get("volumes") or []]

    def environment(self, service: str) -> dict[str, str | None]:
        env = self.services[service].get("environment") or {}
        return {k: (None if v is None else str(v)) for k, v in env.items()}

    def networks(self, service: str) -> dict[str, dict]:
        """Network key → its attachment options ({} when none); empty with network_mode."""
        svc = self.services[service]
        if svc.get("network_mode"):
            return {}
        return {k: (v or {}) for k, v in (svc.get("networks") or {"default": None}).items()}

    def command(self, service: str) -> list[str]:
        """ENTRYPOINT + CMD the container runs: compose's overrides, else the Dockerfile's."""
        svc = self.services[service]
        entrypoint, command = svc.get("entrypoint"), svc.get("command")
        model = self.image_model(service) if entrypoint is None or command is None else None

        def from_image(keyword: str) -> list[str]:
            ins = model.effective(keyword) if model else None
            if ins is None:
                return []
            argv = ins.exec_argv()
            return argv if argv is not None else ["/bin/sh", "-c", ins.body]

        ep = argv_words(entrypoint) if entrypoint is not None else from_image("ENTRYPOINT")
        # Setting `entrypoint:` in compose clears the image's CMD, as docker run --entrypoint does.
        cmd = argv_words(command) if command is not None else [] if entrypoint is not None else from_image("CMD")
        return ep + cmd

    def image_env(self, service: str) -> dict[str, str]:
        """The Dockerfile's ENV overlaid with the compose environment: what the container sees."""
        model = self.image_model(service)
        env = dict(model.env) if model else {}
        env.update({k: v for k, v in self.environment(service).items() if v is not None})
        return env

    def healthcheck(self, service: str) -> tuple[str, str] | None:
        """(where, test) of the service's healthcheck, from compose or the Dockerfile; None if none."""
        hc = self.services[service].get("healthcheck")
        if hc:
            test = hc.get("test")
            if hc.get("disable") or (test and argv_words(test)[:1] == ["NONE"]):
                return None
            if test:
                return ("compose", " ".join(argv_words(test)))
        model = self.image_model(service)
        ins = model.effective("HEALTHCHECK") if model else None
        if ins is None or ins.value.strip().upper() == "NONE":
            return None
        return (f"{model.name} line {ins.line}", ins.body)

    # -- MLflow ------------------------------------------------------------------------------
    def mlflow_port(self) -> int:
        """The container port MLflow listens on: --port/-p, else MLFLOW_PORT, else 5000."""
        if not self.mlflow:
            return MLFLOW_DEFAULT_PORT
        env = self.image_env(self.mlflow)
        value = option(self.command(self.mlflow), "--port", "-p") or env.get("MLFLOW_PORT") or ""
        value = substitute(value, env)  # `sh -c "mlflow server --port $PORT"`
        return int(value) if value.isdigit() else MLFLOW_DEFAULT_PORT

    def declared_ports(self, service: str) -> list[int]:
        """Container ports the compose file names for a service (`ports` targets and `expose`)."""
        svc = self.services[service]
        found = {int(p["target"]) for p in svc.get("ports") or [] if p.get("target")}
        heads = (str(item).split("/")[0].split("-")[0] for item in svc.get("expose") or [])
        return sorted(found | {int(h) for h in heads if h.isdigit()})

    def shared_networks(self, a: str, b: str) -> list[str]:
        return sorted(set(self.networks(a)) & set(self.networks(b)))

    def names_for(self, service: str, *, seen_from: str | None = None) -> set[str]:
        """DNS names that reach `service` from `seen_from` (its networks in common), lower case."""
        svc = self.services[service]
        common = set(self.shared_networks(service, seen_from)) if seen_from else None
        nets = {k: v for k, v in self.networks(service).items() if common is None or k in common}
        if not nets:
            return set()
        names = {service}
        for options in nets.values():
            names.update(options.get("aliases") or [])
        # The grader keeps container_name reachable as an alias (grader.docker.stack); hostname resolves too.
        names.update(filter(None, (svc.get("container_name"), svc.get("hostname"))))
        return {n.lower() for n in names}

    def resolve_host(self, host: str, *, seen_from: str | None = None) -> str | None:
        """The service a hostname reaches from `seen_from` (default: the API role), or None."""
        seen_from = seen_from if seen_from is not None else self.mlapp
        for name in sorted(self.services):
            if name != seen_from and host.lower() in self.names_for(name, seen_from=seen_from):
                return name
        return None


def compose_file(workspace: Path) -> Path:
    """The workspace's compose file (the first of COMPOSE_FILES); ResourceError when there is none."""
    file = next((workspace / n for n in COMPOSE_FILES if (workspace / n).is_file()), None)
    if file is None:
        raise ResourceError("docker-compose.yml is missing: expected it at the repository root",
                            expected="docker-compose.yml at the repository root")
    return file


def load(workspace: Path, *, timeout: float = 60) -> ComposeModel:
    """Normalise the workspace's compose file with compose itself; ResourceError quotes compose."""
    file = compose_file(workspace)
    # --profile '*' shows one-off services too, so roles are chosen knowing every candidate.
    result = run_compose(["--profile", "*", "-f", str(file), "--project-directory", str(workspace),
                          "config", "--format", "json"], timeout=timeout, cwd=workspace)
    if result.returncode != 0:
        lines = [line.strip() for line in result.stderr.strip().splitlines() if line.strip()]
        message = ("; ".join(lines[-3:]) or "no error message").replace(str(workspace) + "/", "")
        raise ResourceError(f"`docker compose config` rejects {file.name}: {message}",
                            expected="a compose file that `docker compose config` accepts",
                            details=result.stderr.strip()[-2000:] or None)
    try:
        data = json.loads(result.stdout)
    except ValueError:
        raise ResourceError(f"`docker compose config` printed no JSON for {file.name}",
                            details=result.stdout[-1000:]) from None
    return ComposeModel(data=data, file=file, workspace=workspace)


def describe(model: ComposeModel) -> str:
    parts = [f"{name} (builds {model.dockerfile_name(name) or 'no Dockerfile'})" for name in sorted(model.services)]
    return ", ".join(parts) or "none"


@provides("compose", blame="6.valid", engine=False)
def compose(ctx) -> ComposeModel:
    """The compose model whenever `docker compose config` accepts the file; a role it lacks costs
    only the checks that need that role (ComposeModel.require), not the whole compose task."""
    # Compose reads env files, label files, included and extended files as it loads the project:
    # the raw files are checked first, so nothing outside the submission is ever read (issue 14).
    found = policy.preflight(ctx.workdir, compose_file(ctx.workdir), instructor=ctx.options.instructor,
                             variables=compose_environment())
    policy.settle(found, what="read this compose file", blame="6.valid", warn=ctx.warn)
    return load(ctx.workdir)
