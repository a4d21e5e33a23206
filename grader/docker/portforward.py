"""A published port over a Unix socket: connections to the socket reach a container's IP and port.

Task 10's test runner has no network at all (a container on any Docker network can reach the host's
own services through the network's gateway address), yet Lab 10's tests call the API at
http://localhost:5000. So the grader does what docker-proxy does for `docker run -p 5000:5000`, on
the host: it accepts connections on a Unix socket that the runner mounts, and connects each to the
container under test; inside the runner, localhost:5000 forwards to that socket
(grader/docker/runner/run_tests.py). Like docker-proxy, a connection the container refuses is
accepted, then closed.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from pathlib import Path

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 3.0      # seconds to reach the container; a live server accepts at once, even when busy
CONNECTIONS_MAX = 64


class PortForward:
    """Forward connections on the Unix socket `path` (mode 0666) to `target` (ip, port) until close().

    A `target` of None (the container has no address: it exited) closes every connection at once.
    Use as a context manager.
    """

    def __init__(self, *, path: Path, target: tuple[str, int] | None):
        self.path, self.target = path, target
        self._server: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(CONNECTIONS_MAX)
        self._closed = threading.Event()

    def __enter__(self) -> PortForward:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.path.unlink(missing_ok=True)
        server.bind(str(self.path))
        os.chmod(self.path, 0o666)
        server.listen(CONNECTIONS_MAX)
        self._server = server
        threading.Thread(target=self._accept, name=f"portforward-{self.path.parent.name}", daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._closed.set()
        if self._server is not None:
            _close(self._server)
        with self._lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            _close(sock)
        self.path.unlink(missing_ok=True)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if not self._slots.acquire(blocking=False):
                _close(client)
                continue
            threading.Thread(target=self._bridge, args=(client,), daemon=True).start()

    def _bridge(self, client: socket.socket) -> None:
        upstream = None
        try:
            with self._lock:
                if self._closed.is_set():
                    return
                self._open.add(client)
            if self.target is None:
                return
            upstream = socket.create_connection(self.target, timeout=CONNECT_TIMEOUT)
            upstream.settimeout(None)
            with self._lock:
                self._open.add(upstream)
            back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
            back.start()
            _pump(client, upstream)
            back.join()
        except OSError as exc:  # refused, unreachable, closed: the client sees its connection close
            log.debug("forward to %s: %s", self.target, exc)
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    _close(sock)
                    with self._lock:
                        self._open.discard(sock)
            self._slots.release()


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


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
