"""Standard-library Python probes inside containers: exec in a running one, or a one-off container of an image."""

from __future__ import annotations

import json
import logging

from docker.errors import APIError, NotFound
from requests.exceptions import RequestException

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


def listeners(container) -> list[tuple[str, int]]:
    """TCP sockets in LISTEN state inside the container, read from /proc (slim images lack ss)."""
    rc, out = exec_python(container, LISTEN_PROBE, timeout=15)
    try:  # a complete answer counts even if the exec's exit status was lost (a slow, loaded engine)
        return [(host, int(port)) for host, port in last_json(out)]
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


def run_probe(ctx, image: str, code: str, *, timeout: float | None = None) -> tuple[int, str]:
    """Run standard-library Python in a one-off root container of `image` (no network); (rc, output)."""
    timeout = timeout or ctx.options.timeout("exec") * 2
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
            return rc, container.logs().decode("utf-8", "replace")
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

