"""A filtering Docker Engine API proxy: one container's inspect, exec and logs, and nothing else.

The student's container tests (task 10) use testinfra's docker backend and the docker CLI
(`docker exec`, `docker inspect`, `docker logs`), which need an engine API. Giving untrusted test
code the real socket would give it the machine, so the sandbox (grader.docker.sandbox) mounts
this proxy's Unix socket instead. It reads one request per connection, lets it through only if it
is on the allow-list below for the one container under test, rewrites the container reference to
that container's full id, asks the engine to close the connection after the answer (so no second
request can follow unchecked), and streams the answer back. Everything else gets 403 with a
message the docker CLI prints ("Error response from daemon: ...").

Allowed (API version prefix /vX.Y optional; CONTAINER is any name in `names`, the full id or a
prefix of it; EXEC is an exec id this proxy saw created):
    HEAD|GET /_ping            GET /version
    GET  /containers/CONTAINER/json | logs | top
    POST /containers/CONTAINER/exec       (not privileged)
    POST /exec/EXEC/start | resize         GET /exec/EXEC/json
This is the list testinfra's docker backend and `docker exec|inspect|logs|top` use (docker CLI 28
against engine API 1.41, observed through a logging proxy).
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from grader.errors import ResourceError

log = logging.getLogger(__name__)

HEAD_MAX = 16_384          # bytes of a request line and headers
BODY_MAX = 65_536          # bytes of a request body (an exec's JSON)
RESPONSE_MAX = 1_048_576   # bytes of an exec-create answer read before it is passed on
CONNECTIONS_MAX = 32       # connections open at once; more are refused
HEAD_TIMEOUT = 30.0        # seconds a client may take to send its request
REFUSALS_KEPT = 20
SAFE_PATH = re.compile(r"^/[A-Za-z0-9/._-]*$")
SAFE_QUERY = re.compile(r"^[A-Za-z0-9=&._:+,-]*$")
VERSIONED = re.compile(r"^(?P<version>/v\d+\.\d+)?(?P<rest>/.*)$")
CONTAINER_ROUTE = re.compile(r"^/containers/(?P<ref>[A-Za-z0-9_.-]+)/(?P<action>[a-z]+)$")
EXEC_ROUTE = re.compile(r"^/exec/(?P<id>[0-9a-f]{64})/(?P<action>[a-z]+)$")
CONTAINER_ACTIONS = {("GET", "json"), ("GET", "logs"), ("GET", "top"), ("POST", "exec")}
EXEC_ACTIONS = {("POST", "start"), ("POST", "resize"), ("GET", "json")}
USER_AGENT = re.compile(r"^[\x20-\x7e]{1,200}$")


class Refused(Exception):
    """A request the proxy does not pass on: `status` and `reason` go back to the client."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass(frozen=True)
class Request:
    """One HTTP request as the client sent it (header names lower-cased)."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes = b""


@dataclass(frozen=True)
class Decision:
    """What to send the engine: the rewritten request target, and how to relay the answer."""

    target: str                 # path and query, the container reference replaced by its full id
    upgrade: bool = False       # exec start: after the answer the connection is a raw stream
    exec_create: bool = False   # read the answer to learn the new exec id


@dataclass
class Scope:
    """What the proxy allows: one container (its full id and names) and the execs created in it."""

    container_id: str
    names: tuple[str, ...]
    exec_ids: set[str] = field(default_factory=set)

    def container(self, ref: str) -> bool:
        """Whether `ref` (a name, "/name", the full id or an id prefix of 4+ characters) is the container."""
        ref = ref.lstrip("/")
        return ref in self.names or (len(ref) >= 4 and self.container_id.startswith(ref))


def parse_head(raw: bytes) -> Request:
    """The request line and headers of `raw` (without the blank line); Refused when malformed."""
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise Refused(400, "request head is not ASCII") from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[2] not in ("HTTP/1.0", "HTTP/1.1"):
        raise Refused(400, f"malformed request line {lines[0][:80]!r}")
    method, target, _ = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line or line[0] in " \t" or ":" not in line:
            raise Refused(400, "malformed header line")
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name in headers:
            raise Refused(400, f"header {name} given twice")
        headers[name] = value.strip()
    path, _, query = target.partition("?")
    return Request(method=method, path=path, query=query, headers=headers)


def decide(request: Request, scope: Scope) -> Decision:
    """Whether `request` may reach the engine, and rewritten how; Refused (403, 400) otherwise."""
    method, path, query = request.method, request.path, request.query
    shown = f"{method} {path}"
    if not SAFE_PATH.match(path) or ".." in path or not SAFE_QUERY.match(query):
        raise Refused(400, f"{shown}: the path or query has characters the test sandbox does not pass on")
    if "transfer-encoding" in request.headers:
        raise Refused(411, f"{shown}: chunked request bodies are not passed on")
    if method in ("GET", "HEAD") and request.body:
        raise Refused(400, f"{shown}: a {method} request has no body")
    match = VERSIONED.match(path)
    version, rest = (match["version"] or ""), match["rest"]
    suffix = f"?{query}" if query else ""
    if rest == "/_ping" and method in ("GET", "HEAD") or rest == "/version" and method == "GET":
        return Decision(target=path + suffix)
    route = CONTAINER_ROUTE.match(rest)
    if route and (method, route["action"]) in CONTAINER_ACTIONS:
        if not scope.container(route["ref"]):
            raise Refused(403, f"{shown}: only the container under test ({scope.names[0]}) may be used "
                               "in the test sandbox")
        if route["action"] == "exec":
            _check_exec_body(request.body, shown)
        target = f"{version}/containers/{scope.container_id}/{route['action']}{suffix}"
        return Decision(target=target, exec_create=route["action"] == "exec")
    route = EXEC_ROUTE.match(rest)
    if route and (method, route["action"]) in EXEC_ACTIONS:
        if route["id"] not in scope.exec_ids:
            raise Refused(403, f"{shown}: not an exec this sandbox created")
        upgrade = route["action"] == "start" and request.headers.get("upgrade", "").lower() == "tcp"
        return Decision(target=path + suffix, upgrade=upgrade)
    raise Refused(403, f"{shown} is not allowed in the test sandbox (allowed: inspect, exec, logs and top "
                       f"of the container under test)")


def _check_exec_body(body: bytes, shown: str) -> None:
    try:
        spec = json.loads(body or b"{}")
    except ValueError:
        raise Refused(400, f"{shown}: the body is not JSON") from None
    if not isinstance(spec, dict):
        raise Refused(400, f"{shown}: the body is not a JSON object")
    if spec.get("Privileged"):
        raise Refused(403, f"{shown}: privileged exec is not allowed in the test sandbox")


def forwarded_head(request: Request, decision: Decision) -> bytes:
    """The request the engine gets: rebuilt from the allowed parts only, closing after the answer."""
    lines = [f"{request.method} {decision.target} HTTP/1.1", "Host: docker"]
    agent = request.headers.get("user-agent", "")
    if USER_AGENT.match(agent):
        lines.append(f"User-Agent: {agent}")
    if request.method == "POST":
        lines += ["Content-Type: application/json", f"Content-Length: {len(request.body)}"]
    lines += ["Connection: Upgrade", "Upgrade: tcp"] if decision.upgrade else ["Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def response_json(raw: bytes):
    """The JSON body of a complete HTTP response (plain or chunked); None when there is none."""
    head, _, body = raw.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head.lower():
        decoded, rest = b"", body
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            try:
                size = int(size_line.split(b";")[0], 16)
            except ValueError:
                return None
            if size == 0:
                break
            decoded, rest = decoded + rest[:size], rest[size + 2:]
        body = decoded
    try:
        return json.loads(body)
    except ValueError:
        return None


def engine_address(env=os.environ) -> tuple[int, object]:
    """(socket family, address) of the engine from DOCKER_HOST (default /var/run/docker.sock).

    Raises ResourceError for TLS or ssh engines: the proxy speaks plain HTTP to a local engine.
    """
    host = env.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    url = urlsplit(host)
    if url.scheme == "unix":
        return socket.AF_UNIX, url.path
    if url.scheme in ("tcp", "http") and not env.get("DOCKER_TLS_VERIFY") and url.hostname:
        return socket.AF_INET, (url.hostname, url.port or 2375)
    raise ResourceError(f"the container tests' Docker API proxy needs a local engine socket or plain TCP; "
                        f"DOCKER_HOST={host} is not supported")


class ApiProxy:
    """The proxy on a Unix socket at `path` (mode 0666, for the runner's user) until close().

    `scope` says which container and execs are allowed. Use as a context manager. `refused` lists
    the last requests it refused ("POST /v1.41/containers/create: ..."), for the check's details.
    """

    def __init__(self, *, path: Path, scope: Scope, engine: tuple[int, object] | None = None):
        self.path, self.scope = path, scope
        self.engine = engine or engine_address()
        self.refused: list[str] = []
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._slots = threading.BoundedSemaphore(CONNECTIONS_MAX)
        self._server: socket.socket | None = None
        self._closed = threading.Event()

    def __enter__(self) -> ApiProxy:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.path.unlink(missing_ok=True)
        server.bind(str(self.path))
        os.chmod(self.path, 0o666)
        server.listen(CONNECTIONS_MAX)
        self._server = server
        threading.Thread(target=self._accept, name=f"apiproxy-{self.path.parent.name}", daemon=True).start()

    def close(self) -> None:
        """Stop accepting and cut every open connection (the sandbox's run is over)."""
        self._closed.set()
        if self._server is not None:
            try:
                self._server.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._server.close()
        with self._lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            _close(sock)
        self.path.unlink(missing_ok=True)

    # -- connections -------------------------------------------------------------------------
    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            if self._closed.is_set():
                raise OSError("proxy closed")
            self._open.add(sock)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if not self._slots.acquire(blocking=False):
                _close(client)
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = None
        try:
            self._track(client)
            client.settimeout(HEAD_TIMEOUT)
            request = self._read_request(client)
            decision = decide(request, self.scope)
            upstream = socket.socket(self.engine[0], socket.SOCK_STREAM)
            self._track(upstream)
            upstream.connect(self.engine[1])
            upstream.sendall(forwarded_head(request, decision) + request.body)
            client.settimeout(None)
            if decision.exec_create:
                answer = _read_all(upstream, RESPONSE_MAX)
                created = response_json(answer)
                if isinstance(created, dict) and isinstance(created.get("Id"), str):
                    self.scope.exec_ids.add(created["Id"])
                client.sendall(answer)
            elif decision.upgrade:
                forth = threading.Thread(target=_pump, args=(client, upstream), daemon=True)
                forth.start()
                _pump(upstream, client)
            else:
                _pump(upstream, client)  # the client's further bytes are never passed on
        except Refused as exc:
            self._refuse(client, exc)
        except OSError as exc:
            log.debug("proxy connection ended: %s", exc)
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    _close(sock)
                    with self._lock:
                        self._open.discard(sock)
            self._slots.release()

    def _read_request(self, client: socket.socket) -> Request:
        data = b""
        while b"\r\n\r\n" not in data:
            if len(data) > HEAD_MAX:
                raise Refused(431, "request head too large")
            chunk = client.recv(4096)
            if not chunk:
                raise OSError("client closed before sending a request")
            data += chunk
        raw_head, _, rest = data.partition(b"\r\n\r\n")
        request = parse_head(raw_head)
        try:
            length = int(request.headers.get("content-length", "0"))
        except ValueError:
            raise Refused(400, "bad Content-Length") from None
        if length < 0 or length > BODY_MAX:
            raise Refused(413, f"request body larger than {BODY_MAX} bytes")
        body = rest
        while len(body) < length:
            chunk = client.recv(min(65536, length - len(body)))
            if not chunk:
                raise OSError("client closed in the middle of the body")
            body += chunk
        return Request(method=request.method, path=request.path, query=request.query,
                       headers=request.headers, body=body[:length])

    def _refuse(self, client: socket.socket, exc: Refused) -> None:
        log.info("api proxy refused: %s", exc.reason)
        with self._lock:
            self.refused = (self.refused + [exc.reason])[-REFUSALS_KEPT:]
        body = json.dumps({"message": f"mlops-grader sandbox: {exc.reason}"}).encode()
        head = (f"HTTP/1.1 {exc.status} Refused\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
        try:
            client.sendall(head + body)
        except OSError:
            pass


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    finally:
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def _read_all(sock: socket.socket, limit: int) -> bytes:
    data = b""
    while len(data) <= limit:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
