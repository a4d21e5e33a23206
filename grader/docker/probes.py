"""Standard-library Python probes inside containers: exec in a running one, or a one-off container of an image."""

from __future__ import annotations

import json
import logging

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
try:
    with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
        body, status = r.read(65536), r.status
except urllib.error.HTTPError as e:
    body, status = e.read(65536), e.code
except Exception as e:
    print(json.dumps({"status": None, "error": f"{type(e).__name__}: {e}"})); sys.exit(0)
print(json.dumps({"status": status, "body": body.decode("utf-8", "replace")}))
"""


def http(container, url: str, *, method: str = "GET", payload=None, body: bytes | None = None,
         headers: dict | None = None, timeout: float = 10) -> dict:
    """Make an HTTP request from inside `container`; return {"status", "body"} or {"error"}.

    `payload` is sent as JSON; `body` as raw bytes (with the caller's Content-Type). `timeout` in seconds.
    """
    data = body if body is not None else None if payload is None else json.dumps(payload).encode()
    hdrs = {"Content-Type": "application/json", **(headers or {})} if payload is not None else (headers or {})
    code = (
        f"URL={url!r}\nDATA={data!r}\nMETHOD={method!r}\nHEADERS={hdrs!r}\nTIMEOUT={timeout!r}\n"
        + HTTP_PROBE
    )
    rc, out = exec_python(container, code, timeout=timeout + 5)
    try:
        return last_json(out)
    except (ValueError, IndexError):
        return {"status": None, "error": f"probe could not run (exit {rc}): {out.strip()[-300:]}"}


# Docker's embedded DNS server listens inside every container of a user-defined network (the
# grader's isolated networks too) on 127.0.0.11 and a random port: not the container's own server.
EMBEDDED_DNS = "127.0.0.11"


def listeners(container) -> list[tuple[str, int]]:
    """TCP sockets in LISTEN state inside the container, read from /proc (slim images lack ss);
    Docker's embedded DNS (EMBEDDED_DNS) is left out."""
    rc, out = exec_python(container, LISTEN_PROBE, timeout=15)
    try:  # a complete answer counts even if the exec's exit status was lost (a slow, loaded engine)
        return [(host, int(port)) for host, port in last_json(out) if host != EMBEDDED_DNS]
    except (ValueError, IndexError, TypeError):
        raise ResourceError(f"could not read /proc/net/tcp in the container (exit {rc}): {out.strip()[-200:]}") from None


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

