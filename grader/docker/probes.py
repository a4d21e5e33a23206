"""Standard-library Python probes inside containers: exec in a running one, or a one-off container of an image.

Two probes of a running container are answered from the host when it can (issue 13: a `docker exec`
of Python costs some 0.2-0.4 CPU-seconds of the engine, runc and the container's own CPU share; a
full grade made about a hundred of them): `http()` to the container's own address, which the host
reaches on Linux as task 10's port forward needs anyway, and `listeners()`, read from the host's
/proc/<pid>/net/tcp of the container's PID 1 when the host shares the engine's PID namespace. Both
fall back to the exec probe whenever the host cannot say (Docker Desktop's VM, another PID
namespace): the answer is the same either way.
"""

from __future__ import annotations

import http.client
import inspect
import ipaddress
import json
import logging
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from docker.errors import APIError, NotFound
from requests.exceptions import RequestException

from grader import wait
from grader.errors import ResourceError

log = logging.getLogger(__name__)


def last_json(out: str):
    """The JSON document a probe prints on its last line (ValueError/IndexError when there is none)."""
    return json.loads(out.strip().splitlines()[-1])


def remove_container(container) -> None:
    try:
        container.remove(force=True, v=True)
    except NotFound:
        pass


# Output the grader reads from a container, at most: a container that floods costs that container,
# not the grader's memory (issue 14). Logs: the last LOG_MAX_LINES lines, at most LOG_MAX_BYTES
# (their end); a probe's output: its first PROBE_MAX_BYTES (probes print one short JSON line).
LOG_MAX_LINES = 5000
LOG_MAX_BYTES = 1_000_000
PROBE_MAX_BYTES = 1_000_000
FORK_FAILED = "Resource temporarily unavailable"   # EAGAIN from fork(): the pids limit is reached
NO_PROCESSES_LEFT = "(the container cannot start another process: it has reached its process limit)"
EXIT_SETTLE_S = 3.0   # how long after its output ends a probe's exit status may take to show


def read_logs(container, *, tail: int | None = None, max_bytes: int = LOG_MAX_BYTES) -> str:
    """A container's output (stdout and stderr): its last `tail` lines (at most LOG_MAX_LINES),
    of which at most the last `max_bytes` bytes; "" when the engine cannot give them."""
    lines = min(tail or LOG_MAX_LINES, LOG_MAX_LINES)
    kept = bytearray()
    stream = None
    try:
        stream = container.logs(stream=True, follow=False, tail=lines)
        for chunk in stream:
            kept += chunk
            if len(kept) > 2 * max_bytes:
                del kept[:len(kept) - max_bytes]
    except (APIError, RequestException, OSError):
        if not kept:
            return ""
    finally:
        if stream is not None and hasattr(stream, "close"):
            stream.close()
    return bytes(kept[-max_bytes:]).decode("utf-8", "replace")


def _exec(container, argv: list[str], *, user: str) -> tuple[int, str]:
    """`docker exec` with its output read up to PROBE_MAX_BYTES; (exit code, output)."""
    api = container.client.api
    exec_id = api.exec_create(container.id, argv, user=user)["Id"]
    stream = api.exec_start(exec_id, stream=True)
    kept = bytearray()
    cut = False
    try:
        for chunk in stream:
            kept += chunk
            if len(kept) >= PROBE_MAX_BYTES:
                cut = True
                break
    finally:
        if hasattr(stream, "close"):
            stream.close()
    # The output ends when the process closes it; the engine may say it exited a moment later.
    info = wait.poll(lambda: api.exec_inspect(exec_id), timeout=0 if cut else EXIT_SETTLE_S, interval=0.05,
                     until=lambda found: not found.get("Running"))
    code = info.get("ExitCode")
    output = bytes(kept[:PROBE_MAX_BYTES]).decode("utf-8", "replace")
    return (1 if code is None else code), output


def exec_python(container, code: str, *, timeout: float = 30, user: str | None = None) -> tuple[int, str]:
    """Run `python -c code` inside a running container; return (exit code, combined output).

    The probe uses only the standard library, so it works in any image that has Python. Its
    output is read up to PROBE_MAX_BYTES (an image's `python` may be anything).
    """
    argv = ["sh", "-c", 'exec "$(command -v python3 || command -v python)" -c "$0"', code]
    wrapped = ["timeout", str(int(timeout))] + argv
    try:
        exit_code, output = _exec(container, wrapped, user=user or "")
        if exit_code == 127 and "timeout" in output:
            # Images without coreutils' timeout: run unbounded (the probes bound their own I/O).
            exit_code, output = _exec(container, argv, user=user or "")
    except (APIError, RequestException) as exc:
        exit_code, output = 126, f"docker exec failed: {getattr(exc, 'explanation', None) or exc}"
    if exit_code != 0 and (FORK_FAILED.lower() in output.lower() or at_process_limit(container)):
        output += f"\n{NO_PROCESSES_LEFT}"
    return exit_code, output


def at_process_limit(container) -> bool:
    """True when the container runs as many processes as its pids limit allows (`docker run
    --pids-limit`), so a probe could not start (or timed out starting) for that reason; False
    without a limit or when the engine cannot say."""
    try:
        limit = int(((container.attrs.get("HostConfig") or {}).get("PidsLimit")) or 0)
        if limit <= 0:
            return False
        current = int(((container.stats(stream=False) or {}).get("pids_stats") or {}).get("current") or 0)
    except (APIError, RequestException, ValueError, TypeError):
        return False
    return current >= limit - 1


HTTP_PROBE = r"""
import json, sys, urllib.request, urllib.error
req = urllib.request.Request(URL, data=DATA, method=METHOD, headers=HEADERS)
direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # the grader's request: never via a proxy
try:
    with direct.open(req, timeout=TIMEOUT) as r:
        body, status = r.read(65536), r.status
except urllib.error.HTTPError as e:
    body, status = e.read(65536), e.code
except Exception as e:
    print(json.dumps({"status": None, "error": f"{type(e).__name__}: {e}"})); sys.exit(0)
print(json.dumps({"status": status, "body": body.decode("utf-8", "replace")}))
"""
class _Redirected(Exception):
    """A redirect the grader does not follow from the host (it could lead to the host's own services)."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise _Redirected(newurl)


# The grader's own HTTP client for requests from the host: never through an HTTP proxy, and no redirect
# followed (the probe inside follows them; a redirected request is made there instead).
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
NO_REDIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())
HOST_GRACE_S = 5.0        # what a request from the host may take beyond its timeout, as the exec probe's
# Whether the host reaches the addresses of a network's containers, by network id, learnt once per
# process: True once a request from the host got an HTTP answer there; False for the grader's
# isolated networks (no address on the host's end of the bridge: `inhibit_ipv4`), and once a request
# from the host could not connect where the same request from inside got an answer.
_host_reaches: dict[str, bool] = {}
INHIBIT_IPV4 = "com.docker.network.bridge.inhibit_ipv4"


def own_addresses(container) -> dict[str, str]:
    """The container's IP addresses on its networks, from its (last reloaded) attributes:
    {address: network id} (the id is "" when the engine gives none)."""
    settings = container.attrs.get("NetworkSettings") or {}
    found = {}
    for net in (settings.get("Networks") or {}).values():
        for key in ("IPAddress", "GlobalIPv6Address"):
            if net.get(key):
                found[net[key]] = net.get("NetworkID") or ""
    if settings.get("IPAddress"):
        found.setdefault(settings["IPAddress"], "")
    return found


def _target_network(container, url: str) -> str | None:
    """The id of the network by which `url` (plain http to one of the container's own addresses)
    reaches the container; None for any other URL (a service name, loopback, another container)."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        ipaddress.ip_address(host)
    except ValueError:
        return None
    if parts.scheme != "http":
        return None
    return own_addresses(container).get(host)


def _host_may_reach(container, network: str) -> bool | None:
    """Whether a request from the host to the container's address on `network` may stand for the
    probe inside: False when it cannot (no network id; the container does not run on this machine's
    kernel, as `_host_tables` proves, e.g. Docker Desktop's VM or a remote engine; an isolated
    network), True when the host has reached that network, None when the
    host should try and learn."""
    if not network or _host_tables(container) is None:
        return False
    if network not in _host_reaches:
        try:
            options = container.client.api.inspect_network(network).get("Options") or {}
        except (APIError, RequestException):
            return False
        if str(options.get(INHIBIT_IPV4, "")).lower() == "true":
            _host_reaches[network] = False
    return _host_reaches.get(network)


def _http_from_host(url: str, *, data, method: str, headers: dict, timeout: float) -> tuple[dict | None, bool]:
    """HTTP_PROBE's answer made by the grader itself, and whether the host connected at all:
    ({"status", "body"} or {"status": None, "error"}, connected). (None, True) for a redirect, which
    only the probe inside may follow. The whole request is bounded by `timeout` + HOST_GRACE_S."""
    answer: dict = {}

    def request() -> None:
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with NO_REDIRECT.open(req, timeout=timeout) as r:
                body, status = r.read(65536), r.status
        except _Redirected:
            answer["redirected"] = True
            return
        except urllib.error.HTTPError as e:
            try:
                body, status = e.read(65536), e.code
            except (OSError, http.client.HTTPException) as exc:
                answer.update(status=None, error=f"{type(exc).__name__}: {exc}")
                return
        except urllib.error.URLError as e:  # no connection (refused, unreachable, connect timeout)
            answer.update(status=None, error=f"{type(e).__name__}: {e}", unconnected=True)
            return
        except Exception as e:  # noqa: BLE001 - what the server did is the answer, as in HTTP_PROBE
            answer.update(status=None, error=f"{type(e).__name__}: {e}")
            return
        answer.update(status=status, body=body.decode("utf-8", "replace"))

    # A server that trickles its answer could hold one request past its timeout: bound the whole of it
    # (the request's daemon thread ends when the server closes or the container goes).
    worker = threading.Thread(target=request, name="grader-http-probe", daemon=True)
    worker.start()
    worker.join(timeout + HOST_GRACE_S)
    if worker.is_alive():
        return {"status": None, "error": f"TimeoutError: no complete answer within {timeout + HOST_GRACE_S:.0f} s"}, True
    if answer.pop("redirected", False):
        return None, True
    connected = not answer.pop("unconnected", False)
    return answer, connected


def http(container, url: str, *, method: str = "GET", payload=None, body: bytes | None = None,
         headers: dict | None = None, timeout: float = 10) -> dict:
    """Make an HTTP request as from inside `container`; return {"status", "body"} or {"error"}.

    `payload` is sent as JSON; `body` as raw bytes (with the caller's Content-Type). `timeout` in
    seconds. A request to the container's own address is made from the host when that stands for
    the probe inside (`_host_may_reach`: same kernel, a network with an address on the host): the same address and port, so the same answer. Where the host has not reached that
    network yet, a request that could not even connect is made again from inside (a refusal may be
    the host's firewall, not the server); a redirect is always followed from inside. Any other
    request (a service name, loopback, another container, an isolated network) runs inside with
    `docker exec`.
    """
    data = body if body is not None else None if payload is None else json.dumps(payload).encode()
    hdrs = {"Content-Type": "application/json", **(headers or {})} if payload is not None else (headers or {})
    network = _target_network(container, url)
    reach = None if network is None else _host_may_reach(container, network)
    if network is not None and reach is not False:
        answer, connected = _http_from_host(url, data=data, method=method, headers=hdrs, timeout=timeout)
        if answer is not None and answer.get("status") is not None:
            _host_reaches[network] = True
            return answer
        if answer is not None and (reach or connected):
            return answer
    code = (
        f"URL={url!r}\nDATA={data!r}\nMETHOD={method!r}\nHEADERS={hdrs!r}\nTIMEOUT={timeout!r}\n"
        + HTTP_PROBE
    )
    rc, out = exec_python(container, code, timeout=timeout + 5)
    try:
        inside = last_json(out)
    except (ValueError, IndexError):
        return {"status": None, "error": f"probe could not run (exit {rc}): {out.strip()[-300:]}"}
    if network is not None and reach is None and inside.get("status") is not None:
        if not _host_reaches.get(network):
            log.info("the host does not reach network %s: HTTP probes of its containers run inside them", network[:12])
            _host_reaches[network] = False
    return inside


# Docker's embedded DNS server listens inside every container of a user-defined network (the
# grader's isolated networks too) on 127.0.0.11 and a random port: not the container's own server.
EMBEDDED_DNS = "127.0.0.11"


def listening_sockets(tables):
    """(address, port) of every TCP socket in LISTEN state in /proc/net/tcp and tcp6 texts
    ({"tcp": text, "tcp6": text}, either may be missing), sorted and without duplicates.

    It runs in the grader and, as source text, inside containers (LISTEN_PROBE), whose Python may be
    old: standard library only, imported here, and no annotations. Format: proc(5), /proc/net/tcp.
    """
    import socket
    found = set()
    for name, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        for line in (tables.get(name) or "").splitlines()[1:]:
            parts = line.split()
            if len(parts) < 4 or parts[3] != "0A":  # 0A = LISTEN
                continue
            addr_hex, port_hex = parts[1].split(":")
            raw = bytes.fromhex(addr_hex)
            # /proc stores each 32-bit word in host (little-endian) order
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            found.add((socket.inet_ntop(family, raw), int(port_hex, 16)))
    return sorted(found)


LISTEN_PROBE = inspect.getsource(listening_sockets) + r"""
import json
tables = {}
for name in ("tcp", "tcp6"):
    try:
        tables[name] = open("/proc/net/" + name).read()
    except OSError:
        pass
print(json.dumps(listening_sockets(tables)))
"""


PROC = Path("/proc")   # the host's procfs (a test points it elsewhere)


def _host_tables(container) -> dict[str, str] | None:
    """/proc/<pid>/net/tcp and tcp6 of the container's PID 1 read from the host, or None when the
    host cannot see that process as the container's (no PID, another PID namespace, Docker
    Desktop's VM, /proc mounted with hidepid): its /proc/<pid>/cgroup must name the container's id,
    before and after the read (a PID reused meanwhile is not the container's)."""
    pid = (container.attrs.get("State") or {}).get("Pid")
    if not isinstance(pid, int) or pid <= 0 or not container.id:
        return None
    proc = PROC / str(pid)

    def its_own() -> bool:
        try:
            return container.id in (proc / "cgroup").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return False
    if not its_own():
        return None
    tables = {}
    for name in ("tcp", "tcp6"):
        try:
            tables[name] = (proc / "net" / name).read_text(encoding="ascii", errors="replace")
        except OSError:
            pass
    return tables if tables and its_own() else None


def listeners(container) -> list[tuple[str, int]]:
    """TCP sockets in LISTEN state inside the container, read from its /proc/net (slim images lack
    ss): from the host when it can see the container's PID 1 (`_host_tables`) and something listens,
    else with an exec probe, which alone says why a container shows nothing (it cannot start a
    process: its pids limit; it has no Python) as before. Docker's embedded DNS (EMBEDDED_DNS) is
    left out. ResourceError when the exec probe cannot read it."""
    tables = _host_tables(container)
    if tables is not None:
        found = [(host, port) for host, port in listening_sockets(tables) if host != EMBEDDED_DNS]
        if found:
            return found
    rc, out = exec_python(container, LISTEN_PROBE, timeout=15)
    try:  # a complete answer counts even if the exec's exit status was lost (a slow, loaded engine)
        return [(host, int(port)) for host, port in last_json(out) if host != EMBEDDED_DNS]
    except (ValueError, IndexError, TypeError):
        raise ResourceError(f"could not read /proc/net/tcp in the container (exit {rc}): {out.strip()[-200:]}") from None


PROBE_WRAPPER = ("python3", "python")
MIN_PROBE_S = 1.0


def run_probe(ctx, image: str, code: str, *, timeout: float | None = None) -> tuple[int, str]:
    """Run standard-library Python in a one-off root container of `image` (no network); (rc, output).

    `timeout` in seconds (default: twice the exec timeout), at least MIN_PROBE_S even when the time
    budget is all but spent (the engine's client refuses a timeout of 0)."""
    timeout = max(timeout or ctx.options.timeout("exec") * 2, MIN_PROBE_S)
    last = ""
    for python in PROBE_WRAPPER:
        try:
            container = ctx.docker.containers.create(
                image, entrypoint=[python, "-c", code], command=[], user="0", network_disabled=True,
                labels=ctx.labels, detach=True, **ctx.options.limits.container_kwargs())
        except APIError as exc:
            raise ResourceError(f"could not create a probe container of {image}: {exc.explanation or exc}") from None
        try:
            try:
                container.start()
            except APIError as exc:  # this python is not in the image: try the next name
                last = str(exc.explanation or exc)
                continue
            try:
                rc = container.wait(timeout=timeout).get("StatusCode", 1)
            except (RequestException, APIError):
                raise ResourceError(f"a probe in {image} did not finish within {timeout:.0f} s") from None
            return rc, read_logs(container)
        finally:
            remove_container(container)
    raise ResourceError(f"{image} has no python3 or python to run the grader's probe: {last}")


def probe_json(ctx, image: str, code: str):
    """run_probe for code that prints one JSON document last."""
    rc, out = run_probe(ctx, image, code)
    try:
        return last_json(out)
    except (ValueError, IndexError):
        raise ResourceError(f"the probe in {image} failed (exit {rc}): {out.strip()[-300:]}") from None

