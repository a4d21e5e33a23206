"""Docker engine access: the client, label sweeps, and probes run inside containers."""

from __future__ import annotations

import json
import logging
import time

import docker
from docker.errors import APIError, DockerException, NotFound

from grader.context import LABEL_RUN, ResourceError

log = logging.getLogger(__name__)

NO_ENGINE = (
    "No Docker engine answers. Start Docker (Codespaces: it starts with the codespace; "
    "Linux: `sudo systemctl start docker` or `make setup`; macOS/Windows: start Docker Desktop), "
    "then run `python -m grader doctor`."
)


class EngineUnavailable(ResourceError):
    pass


def client(timeout: int = 120) -> docker.DockerClient:
    """A Docker SDK client that answers, or EngineUnavailable with the doctor's advice."""
    try:
        cli = docker.from_env(timeout=timeout)
        cli.ping()
        return cli
    except (DockerException, OSError) as exc:
        raise EngineUnavailable(NO_ENGINE, details=str(exc)) from None


def sweep(cli: docker.DockerClient, *, run_id: str) -> list[str]:
    """Remove every container, network, volume and image labelled with this run."""
    problems: list[str] = []
    selector = {"label": f"{LABEL_RUN}={run_id}"}
    for kind, lister, remover in (
        ("container", lambda: cli.containers.list(all=True, filters=selector), lambda c: c.remove(force=True, v=True)),
        ("network", lambda: cli.networks.list(filters=selector), lambda n: n.remove()),
        ("volume", lambda: cli.volumes.list(filters=selector), lambda v: v.remove(force=True)),
        ("image", lambda: cli.images.list(filters=selector), lambda i: cli.images.remove(i.id, force=True)),
    ):
        try:
            found = lister()
        except (APIError, OSError) as exc:
            problems.append(f"listing {kind}s: {exc}")
            continue
        for item in found:
            try:
                remover(item)
            except NotFound:
                pass
            except (APIError, OSError) as exc:
                problems.append(f"removing {kind} {getattr(item, 'name', item.id)}: {exc}")
    return problems


def exec_python(container, code: str, *, timeout: float = 30, user: str | None = None) -> tuple[int, str]:
    """Run `python -c code` inside a running container; return (exit code, combined output).

    The probe uses only the standard library, so it works in any image that has Python.
    """
    argv = ["sh", "-c", 'exec "$(command -v python3 || command -v python)" -c "$0"', code]
    wrapped = ["timeout", str(int(timeout))] + argv
    try:
        result = container.exec_run(wrapped, user=user or "", demux=False)
    except APIError as exc:
        return 126, f"docker exec failed: {exc.explanation or exc}"
    output = (result.output or b"").decode("utf-8", "replace")
    if result.exit_code == 127 and "timeout" in output:
        # Images without coreutils' timeout: run unbounded (the probes bound their own I/O).
        result = container.exec_run(argv, user=user or "", demux=False)
        output = (result.output or b"").decode("utf-8", "replace")
    return result.exit_code, output


HTTP_PROBE = r"""
import json, sys, urllib.request, urllib.error
req = urllib.request.Request(URL, data=DATA, method=METHOD, headers=HEADERS)
try:
    with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
        body, status = r.read(65536), r.status
except urllib.error.HTTPError as e:
    body, status = e.read(65536), e.code
except Exception as e:
    print(json.dumps({"status": None, "error": f"{type(e).__name__}: {e}"})); sys.exit(0)
print(json.dumps({"status": status, "body": body.decode("utf-8", "replace")}))
"""


def http(container, url: str, *, method: str = "GET", payload=None, headers: dict | None = None,
         timeout: float = 10) -> dict:
    """Make an HTTP request from inside `container`; return {"status", "body"} or {"error"}."""
    data = None if payload is None else json.dumps(payload).encode()
    hdrs = {"Content-Type": "application/json", **(headers or {})} if payload is not None else (headers or {})
    code = (
        f"URL={url!r}\nDATA={data!r}\nMETHOD={method!r}\nHEADERS={hdrs!r}\nTIMEOUT={timeout!r}\n"
        + HTTP_PROBE
    )
    rc, out = exec_python(container, code, timeout=timeout + 5)
    try:
        return json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"status": None, "error": f"probe could not run (exit {rc}): {out.strip()[-300:]}"}


def listeners(container) -> list[tuple[str, int]]:
    """TCP sockets in LISTEN state inside the container, read from /proc (slim images lack ss)."""
    rc, out = exec_python(container, LISTEN_PROBE, timeout=15)
    if rc != 0:
        raise ResourceError(f"could not read /proc/net/tcp in the container: {out.strip()[-200:]}")
    return [(host, int(port)) for host, port in json.loads(out.strip().splitlines()[-1])]


LISTEN_PROBE = r"""
import json, socket
found = []
for path, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
    try:
        lines = open(path).read().splitlines()[1:]
    except OSError:
        continue
    for line in lines:
        parts = line.split()
        if parts[3] != "0A":  # 0A = LISTEN
            continue
        addr_hex, port_hex = parts[1].split(":")
        raw = bytes.fromhex(addr_hex)
        # /proc stores each 32-bit word in host (little-endian) order
        raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
        found.append((socket.inet_ntop(family, raw), int(port_hex, 16)))
print(json.dumps(sorted(set(found))))
"""


def wait_for(predicate, *, timeout: float, interval: float = 1.0, what: str = "condition"):
    """Poll `predicate()` until it returns a truthy value or `timeout` passes; return the value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return value
        time.sleep(interval)
