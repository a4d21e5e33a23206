"""What the grader refuses to start: privileged or host-namespace services, host-sensitive mounts."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from grader.docker.compose import ComposeModel
from grader.errors import ResourceError

# Host paths no lab needs; a container mounting them could read or change the grading machine.
SENSITIVE_TREES = ("/proc", "/sys", "/etc", "/dev", "/boot", "/run", "/var/run", "/var/lib/docker")
DANGEROUS_CAPS = {"ALL", "SYS_ADMIN", "SYS_MODULE", "SYS_RAWIO", "SYS_PTRACE"}
HOST_NAMESPACES = ("network_mode", "pid", "ipc", "uts", "userns_mode", "cgroup")


@dataclass(frozen=True)
class Violation:
    where: str      # "service api" or "volume data" ...
    key: str        # the compose key, e.g. "privileged"
    value: str      # what the file asks for
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: `{self.key}: {self.value}` ({self.reason})"


def _inside(path: str, root: Path) -> bool:
    try:
        Path(path).relative_to(root)
        return True
    except ValueError:
        return False


def path_problem(source: str, *, workspace: Path, instructor: bool) -> str | None:
    """Why a host path must not be mounted, or None. Symlinks are followed (the copy keeps them)."""
    resolved = os.path.realpath(source)
    root = Path(os.path.realpath(workspace))
    if _inside(resolved, root):
        return None  # the scratch copy, wherever the grader put it
    for path in dict.fromkeys((os.path.normpath(source), resolved)):
        posix = PurePosixPath(path)
        if str(posix) == "/":
            return "the host's root filesystem"
        if posix.name.endswith(".sock"):
            return "a socket on the host (the Docker socket gives full control of the host)"
        for tree in SENSITIVE_TREES:
            if posix == PurePosixPath(tree) or PurePosixPath(tree) in posix.parents:
                return f"{tree} belongs to the host"
    if instructor:
        return "outside the submission: instructor mode mounts only files inside it"
    return None


def _caps(values) -> set[str]:
    return {str(v).upper().removeprefix("CAP_") for v in values or []}


def service_violations(model: ComposeModel, name: str, *, instructor: bool) -> list[Violation]:
    svc = model.service(name)
    where = f"service {name}"
    found = []
    if svc.get("privileged"):
        found.append(Violation(where, "privileged", "true", "privileged containers control the host"))
    for key in HOST_NAMESPACES:
        value = str(svc.get(key) or "")
        if value == "host":
            found.append(Violation(where, key, value, "shares the host's namespace"))
        elif value.startswith("container:"):
            found.append(Violation(where, key, value, "joins a container outside this project"))
    for cap in sorted(_caps(svc.get("cap_add")) & DANGEROUS_CAPS):
        found.append(Violation(where, "cap_add", cap, "this capability lets a container escape"))
    if svc.get("devices"):
        devices = ", ".join(str(d.get("source", d) if isinstance(d, dict) else d) for d in svc["devices"])
        found.append(Violation(where, "devices", devices, "host devices are not needed by the lab"))
    for opt in svc.get("security_opt") or []:
        if "unconfined" in str(opt):
            found.append(Violation(where, "security_opt", str(opt), "turns off the container's confinement"))
    for ref in svc.get("volumes_from") or []:
        if str(ref).startswith("container:"):
            found.append(Violation(where, "volumes_from", str(ref), "mounts a container outside this project"))
    for mount in model.mounts(name):
        if mount.type == "bind" and mount.source:
            problem = path_problem(mount.source, workspace=model.workspace, instructor=instructor)
            if problem:
                found.append(Violation(where, "volumes", f"{mount.source}:{mount.target}", problem))
    return found


def violations(model: ComposeModel, *, instructor: bool = False) -> list[Violation]:
    """Every reason not to start this project, in file order (services first)."""
    found = []
    for name in model.active_services():
        found += service_violations(model, name, instructor=instructor)
    for kind, declared in (("network", model.networks_declared), ("volume", model.volumes_declared)):
        for key, spec in sorted(declared.items()):
            spec = spec or {}
            if spec.get("external"):
                found.append(Violation(f"{kind} {key}", "external", "true",
                                       f"an external {kind} exists outside this project; the grader "
                                       f"uses its own per-run {kind}s"))
            device = (spec.get("driver_opts") or {}).get("device")
            if kind == "volume" and device and str(device).startswith("/"):
                problem = path_problem(str(device), workspace=model.workspace, instructor=instructor)
                if problem:
                    found.append(Violation(f"volume {key}", "driver_opts.device", str(device), problem))
    for kind in ("secrets", "configs"):
        for key, spec in sorted((model.data.get(kind) or {}).items()):
            source = (spec or {}).get("file")
            if source:
                problem = path_problem(str(source), workspace=model.workspace, instructor=instructor)
                if problem:
                    found.append(Violation(f"{kind[:-1]} {key}", "file", str(source), problem))
    return found


def enforce(model: ComposeModel, *, instructor: bool = False) -> None:
    """ResourceError naming every violation; the stack is never started with one."""
    found = violations(model, instructor=instructor)
    if found:
        listed = "; ".join(str(v) for v in found)
        raise ResourceError(
            f"the grader will not start this stack: {listed}",
            expected="services without privileged mode, host namespaces, host devices, "
                     "the Docker socket or host system directories",
            details="\n".join(str(v) for v in found))
