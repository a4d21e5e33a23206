"""The published port of task 10's sandbox: a Unix socket connected to a TCP server (no engine needed)."""

from __future__ import annotations

import socket
import threading

from grader.docker.portforward import PortForward


def echo_server() -> tuple[socket.socket, int]:
    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                while data := conn.recv(1024):
                    conn.sendall(data.upper())

    threading.Thread(target=serve, daemon=True).start()
    return server, server.getsockname()[1]


def talk(path, text: bytes) -> bytes:
    client = socket.socket(socket.AF_UNIX)
    client.settimeout(10)
    client.connect(str(path))
    answer = b""
    try:
        client.sendall(text)
        client.shutdown(socket.SHUT_WR)
        while chunk := client.recv(1024):
            answer += chunk
    except (ConnectionResetError, BrokenPipeError):  # closed by the forwarder: the same as an empty answer
        pass
    client.close()
    return answer


def test_connections_reach_the_target_and_end_with_it(tmp_path):
    server, port = echo_server()
    with PortForward(path=tmp_path / "api.sock", target=("127.0.0.1", port)):
        assert talk(tmp_path / "api.sock", b"hello") == b"HELLO"
        assert talk(tmp_path / "api.sock", b"again") == b"AGAIN"
    server.close()
    assert not (tmp_path / "api.sock").exists()


def test_a_refused_or_missing_target_closes_the_connection(tmp_path):
    unused = socket.socket()
    unused.bind(("127.0.0.1", 0))
    port = unused.getsockname()[1]
    unused.close()  # nothing listens there
    with PortForward(path=tmp_path / "a.sock", target=("127.0.0.1", port)):
        assert talk(tmp_path / "a.sock", b"hello") == b""
    with PortForward(path=tmp_path / "b.sock", target=None):
        assert talk(tmp_path / "b.sock", b"hello") == b""
