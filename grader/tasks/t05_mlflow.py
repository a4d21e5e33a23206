"""Task 5: Dockerfile.mlflow — builds, pinned, listens on all interfaces, healthy, non-root, data on a volume."""

from __future__ import annotations

import json
import logging
import re
import shlex
from pathlib import Path, PurePosixPath

from grader.errors import ResourceError
from grader.parse.dockerfiles import DockerfileModel
from grader.parse.mlflow_server import local_path, store_uris
from grader.registry import check
from grader.results import fail, ok
from grader.tasks.common import base_pinned, binds_all, built, healthy, non_root_outcome

log = logging.getLogger(__name__)

PIP = re.compile(r"\b(pip3?|uv)\b")
MLFLOW_REQ = re.compile(r"^mlflow(\[[^\]]*\])?\s*(?P<op>==|>=|<=|~=|!=|>|<|===)?\s*(?P<version>[\w.*+-]*)",
                        re.IGNORECASE)
REQ_FILE_FLAGS = ("-r", "--requirement", "-c", "--constraint")


def _segments(command: str) -> list[list[str]]:
    """The shell command split into simple commands (at &&, ||, ;, |), each as words."""
    parts = re.split(r"&&|\|\||;|\|", command)
    found = []
    for part in parts:
        try:
            found.append(shlex.split(part))
        except ValueError:
            found.append(part.split())
    return found


def requirement_file(workdir: Path, model: DockerfileModel, path: str) -> Path | None:
    """The workspace file a `-r path` in a RUN line reads, found through the COPY/ADD sources."""
    name = PurePosixPath(path).name
    for copy in (i for i in model.instructions if i.keyword in ("COPY", "ADD") and "from" not in i.flags):
        for source in copy.sources():
            local = workdir / source
            if local.is_file() and local.name == name:
                return local
            matches = sorted(local.rglob(name)) if local.is_dir() else []
            if matches:
                return matches[0]
    return None


def mlflow_pins(workdir: Path, model: DockerfileModel) -> tuple[list[str], list[str]]:
    """(pinned, unpinned) mentions of the mlflow package in RUN pip install lines and their -r files."""
    pinned, unpinned = [], []

    def judge(requirement: str, where: str) -> None:
        match = MLFLOW_REQ.match(requirement.strip().strip("'\""))
        if not match or (requirement.lower().startswith("mlflow-")):
            return
        exact = match["op"] in ("==", "===") and match["version"] and "*" not in match["version"]
        (pinned if exact else unpinned).append(f"{where}: `{requirement.strip()}`")

    for stage in model.stages:
        for ins in stage.all("RUN"):
            for words in _segments(ins.resolved):
                if "install" not in words or not any(PIP.search(w) for w in words[:words.index("install")]):
                    continue
                args = words[words.index("install") + 1:]
                for i, word in enumerate(args):
                    flag, _, inline = word.partition("=")
                    if flag in REQ_FILE_FLAGS and (inline or i + 1 < len(args)):
                        target = inline or args[i + 1]
                        local = requirement_file(workdir, model, target)
                        if local is None:
                            continue
                        for line in local.read_text(encoding="utf-8", errors="replace").splitlines():
                            judge(line.split("#")[0], f"{local.relative_to(workdir)} (installed at line {ins.line})")
                    elif not word.startswith("-"):
                        judge(word, f"line {ins.line}")
    return pinned, unpinned


@check("5.builds", phase="build")
def builds_ok(mlflow_image):
    return built(mlflow_image, "Dockerfile.mlflow")


@check("5.pinned", phase="static")
def pinned(ctx, mlflow_dockerfile):
    model: DockerfileModel = mlflow_dockerfile
    bases, bad_bases = base_pinned(model)
    pins, loose = mlflow_pins(ctx.workdir, model)
    problems = list(bad_bases)
    if loose:
        problems.append("mlflow is not pinned with ==: " + "; ".join(loose))
    elif not pins:
        problems.append("no RUN pip install of mlflow found (directly or through a requirements file it copies)")
    if problems:
        one_half = not bad_bases or (pins and not loose)  # the base or mlflow is pinned, not both
        return fail("the MLflow image is not fully pinned", partial="one-half" if one_half else None,
                    expected="an exact base tag and mlflow==<version> (pip install line or a copied requirements file)",
                    found="; ".join(problems))
    return ok(f"base {', '.join(sorted(set(bases)))}; {pins[0]}")


@check("5.binds-all", phase="inspect")
def binds_all_interfaces(ctx, mlflow_container):
    return binds_all(mlflow_container, timeout=ctx.options.timeout("ready", capped=False))


@check("5.healthy", phase="inspect")
def turns_healthy(ctx, mlflow_container, mlflow_image):
    return healthy(mlflow_container, mlflow_image, timeout=ctx.options.timeout("ready", capped=False),
                   scale=ctx.options.timeout_scale)


@check("5.non-root", phase="inspect")
def non_root(mlflow_dockerfile, mlflow_container=None, mlflow_image=None):
    return non_root_outcome(mlflow_container, mlflow_image, mlflow_dockerfile)


PROCESSES = r"""
import json, os
found = []
for pid in sorted(os.listdir("/proc"), key=lambda p: int(p) if p.isdigit() else 0):
    if not pid.isdigit():
        continue
    try:
        argv = open(f"/proc/{pid}/cmdline", "rb").read().decode("utf-8", "replace").split("\0")[:-1]
        env = dict(e.split("=", 1) for e in open(f"/proc/{pid}/environ", "rb").read().decode("utf-8", "replace").split("\0") if "=" in e)
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        continue
    found.append({"pid": int(pid), "argv": argv, "cwd": cwd,
                  "env": {k: v for k, v in env.items() if k.startswith("MLFLOW_")}})
print(json.dumps(found))
"""


def server_process(processes: list[dict]) -> dict | None:
    """The `mlflow server` process (the parent that holds the options), lowest pid first."""
    for proc in processes:
        words = [w.rsplit("/", 1)[-1] for w in proc["argv"]]
        if "server" in words and any(w in ("mlflow", "mlflow.cli") or w.startswith("mlflow") for w in words):
            return proc
    return None


def _under(path: str, directory: str) -> bool:
    directory = directory.rstrip("/") or "/"
    return path == directory or path.startswith(directory + "/")


def store_outcome(proc: dict, mounts: list[dict]):
    """Pass when every store the server process uses lies under a named volume's mount point."""
    volumes = [m for m in mounts if m.get("Type") == "volume" and not re.fullmatch(r"[0-9a-f]{64}", m.get("Name") or "")]
    shown_volumes = ", ".join(f"{m['Name']} -> {m['Destination']}" for m in volumes) or "no named volume"
    bad, good = [], []
    for what, uri in store_uris(proc["argv"], proc["env"]).items():
        path = local_path(uri, proc["cwd"])
        mount = next((m for m in volumes if path and _under(path, m["Destination"])), None)
        if path is None:
            bad.append(f"{what} `{uri}` is not a local path")
        elif mount:
            good.append(f"{what} {path} on volume {mount['Name']}")
        else:
            bad.append(f"{what} `{uri}` -> {path} (working dir {proc['cwd']}) is on no named volume")
    if bad:
        return fail("MLflow keeps data outside its named volume: a new container (`docker compose down` and `up`) "
                    "would not have it",
                    expected="the backend store and artifacts under a named volume's mount point",
                    found="; ".join(bad) + f"; mounts: {shown_volumes}", partial="stores",
                    measure=len(good) / (len(good) + len(bad)))
    return ok("; ".join(good))


@check("5.store-on-volume", phase="inspect")
def store_on_volume(ctx, stack=None, mlflow_container=None):
    """The compose stack's MLflow service once docker-compose.yml has one (and the stack came up),
    else the MLflow image run as Lab 5 runs it, with a named volume on its data folder."""
    if stack is not None and "mlflow" in stack.roles:
        mlflow = stack.service("mlflow", serving=False)
    elif mlflow_container is not None:
        mlflow = mlflow_container.reload()
    else:
        raise ctx.failure("mlflow_container") or ResourceError("the MLflow container could not be started",
                                                               blame="5.healthy")
    rc, out = mlflow.exec_python(PROCESSES, timeout=ctx.options.timeout("exec"))
    try:
        processes = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise ResourceError(f"could not list the processes in the MLflow container: {out.strip()[-200:]}") from None
    proc = server_process(processes)
    if proc is None:
        shown = "; ".join(" ".join(p["argv"])[:80] for p in processes[:5])
        return fail("no `mlflow server` process runs in the MLflow service's container",
                    expected="`mlflow server` running", found=f"processes: {shown or 'none'}")
    return store_outcome(proc, mlflow.container.attrs.get("Mounts") or [])
