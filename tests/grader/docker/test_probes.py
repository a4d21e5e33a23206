"""Probes: the JSON they print, one-off probe containers and exec probes in a running container."""

from __future__ import annotations

import time

import pytest

from grader.docker.probes import (
    LOG_MAX_BYTES,
    NO_PROCESSES_LEFT,
    PROBE_MAX_BYTES,
    exec_python,
    http,
    last_json,
    listeners,
    probe_json,
    read_logs,
    remove_container,
    run_probe,
)
from tests.grader.dockerkit import BASE, leftovers, make_context


def test_last_json_reads_the_last_line():
    assert last_json("noise\n{\"a\": 1}\n") == {"a": 1}
    with pytest.raises(ValueError):
        last_json("not json")
    with pytest.raises(IndexError):
        last_json("   ")


@pytest.mark.docker
def test_probe_runs_python_as_root_without_network(tmp_path, docker_client):
    ctx = make_context(tmp_path)
    try:
        rc, out = run_probe(ctx, BASE, "import os, socket; print(os.getuid(), socket.gethostbyname_ex)")
        assert rc == 0 and out.startswith("0 ")
        rc, out = run_probe(ctx, BASE, "import urllib.request; urllib.request.urlopen('http://example.org', timeout=2)")
        assert rc != 0  # network disabled
    finally:
        assert ctx.close() == []
    assert leftovers(docker_client, ctx.run_id) == []


@pytest.mark.docker
def test_exec_probes_in_a_running_container(tmp_path, docker_client):
    ctx = make_context(tmp_path)
    container = docker_client.containers.run(
        BASE, ["python", "-m", "http.server", "--bind", "0.0.0.0", "8000"], detach=True,
        name=ctx.name("probe-target"), labels=ctx.labels)
    try:
        assert probe_json(ctx, BASE, "import json; print(json.dumps([1, 2]))") == [1, 2]
        found = []
        for _ in range(20):  # the server needs a moment to bind
            found = listeners(container)
            if found:
                break
            time.sleep(0.5)
        assert ("0.0.0.0", 8000) in found
        answer = http(container, "http://127.0.0.1:8000/nowhere", timeout=5)
        assert answer["status"] == 404
        assert http(container, "http://127.0.0.1:1/", timeout=2)["status"] is None
        rc, out = exec_python(container, "import sys; sys.exit(4)")
        assert rc == 4
    finally:
        remove_container(container)
        remove_container(container)  # already gone: no error
        assert ctx.close() == []
    assert leftovers(docker_client, ctx.run_id) == []


@pytest.mark.docker
def test_a_flooding_container_is_read_with_a_bound(tmp_path, docker_client):
    ctx = make_context(tmp_path)
    flood = "import sys\nline = 'flood ' * 200 + chr(10)\nwhile True: sys.stdout.write(line)"
    container = docker_client.containers.run(BASE, ["python", "-u", "-c", flood], detach=True,
                                             name=ctx.name("flood"), labels=ctx.labels,
                                             **ctx.options.limits.container_kwargs())
    try:
        time.sleep(3)  # tens of megabytes by now
        started = time.monotonic()
        text = read_logs(container)
        assert 0 < len(text.encode()) <= LOG_MAX_BYTES and text.rstrip().endswith("flood")
        assert len(read_logs(container, tail=5).splitlines()) <= 5
        assert time.monotonic() - started < 10
        rc, out = exec_python(container, "import sys\nwhile True: sys.stdout.write('x' * 65536)", timeout=20)
        assert len(out.encode()) <= PROBE_MAX_BYTES and time.monotonic() - started < 30
        container.reload()
        assert container.attrs["HostConfig"]["LogConfig"]["Config"] == {"max-size": "10m", "max-file": "2"}
    finally:
        remove_container(container)
        assert ctx.close() == []


@pytest.mark.docker
def test_a_container_out_of_processes_says_so(tmp_path, docker_client):
    ctx = make_context(tmp_path)
    container = docker_client.containers.run(BASE, ["sleep", "60"], detach=True, name=ctx.name("pids"),
                                             labels=ctx.labels, pids_limit=1)
    try:
        rc, out = exec_python(container, "print(1)")
        assert rc != 0 and out.endswith(NO_PROCESSES_LEFT)
    finally:
        remove_container(container)
        assert ctx.close() == []


def test_at_process_limit_reads_the_pids_limit_and_the_current_count():
    from grader.docker.probes import at_process_limit

    class Fake:  # pure logic: the engine's figures as docker-py returns them
        def __init__(self, limit, current):
            self.attrs = {"HostConfig": {"PidsLimit": limit}}
            self.current = current

        def stats(self, stream):
            return {"pids_stats": {"current": self.current}}

    assert at_process_limit(Fake(64, 64)) and at_process_limit(Fake(64, 63))
    assert not at_process_limit(Fake(64, 12)) and not at_process_limit(Fake(None, 999))


PROC_NET_TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1 1
   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 2 1
   2: 0B00007F:A1B2 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1
   3: 020011AC:1388 030011AC:D431 01 00000000:00000000 00:00000000 00000000  1000        0 4 1
"""
PROC_NET_TCP6 = """  sl  local_address                         remote_address                        st tx_queue rx_queue
   0: 00000000000000000000000000000000:1388 00000000000000000000000000000000:0000 0A 00000000:00000000
   1: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000
"""


def test_listening_sockets_reads_proc_net_tcp_and_tcp6():
    """proc(5): addresses are 32-bit words in host order, the state 0A is LISTEN; others are left out."""
    from grader.docker.probes import listening_sockets

    assert listening_sockets({"tcp": PROC_NET_TCP, "tcp6": PROC_NET_TCP6}) == [
        ("0.0.0.0", 5000), ("127.0.0.1", 8080), ("127.0.0.11", 41394), ("::", 5000), ("::1", 80)]
    assert listening_sockets({"tcp": PROC_NET_TCP.splitlines()[0]}) == [] and listening_sockets({}) == []


def test_only_a_request_to_the_container_itself_goes_from_the_host():
    from grader.docker.probes import _target_network

    class Fake:  # pure logic: a container's attributes as docker-py returns them
        attrs = {"NetworkSettings": {"IPAddress": "", "Networks": {
            "net": {"IPAddress": "172.20.0.5", "NetworkID": "n1", "GlobalIPv6Address": ""}}}}

    assert _target_network(Fake(), "http://172.20.0.5:5000/health") == "n1"
    for other in ("http://mlflow:5000/", "http://127.0.0.1:5000/health", "http://172.20.0.6:5000/",
                  "https://172.20.0.5:5000/", "not a url"):
        assert _target_network(Fake(), other) is None, other


def _serve(docker_client, ctx, *, bind="0.0.0.0", port=8000, network=None, environment=None):
    container = docker_client.containers.run(
        BASE, ["python", "-m", "http.server", "--bind", bind, str(port)], detach=True,
        name=ctx.name(f"probe-target-{port}"), labels=ctx.labels, network=network, environment=environment)
    for _ in range(20):  # the server needs a moment to bind
        container.reload()
        if listeners(container):
            break
        time.sleep(0.5)
    return container


@pytest.mark.docker
def test_probes_from_the_host_answer_as_the_exec_probes_do(tmp_path, docker_client):
    """listeners() read on the host and http() to the container's own address give what the exec
    probes give inside it (issue 13: the same answer without a `docker exec`)."""
    from grader.docker import probes

    ctx = make_context(tmp_path)
    container = _serve(docker_client, ctx)
    try:
        assert probes._host_tables(container) is not None  # the kit's machines: the host sees the PID
        rc, out = exec_python(container, probes.LISTEN_PROBE)
        inside = [tuple(pair) for pair in last_json(out) if pair[0] != probes.EMBEDDED_DNS]
        assert listeners(container) == inside and ("0.0.0.0", 8000) in inside
        ip, network = next(iter(probes.own_addresses(container).items()))
        for url in (f"http://{ip}:8000/", f"http://{ip}:8000/nowhere", f"http://{ip}:1/"):
            code = f"URL={url!r}\nDATA=None\nMETHOD='GET'\nHEADERS={{}}\nTIMEOUT=5\n" + probes.HTTP_PROBE
            exec_answer = last_json(exec_python(container, code)[1])
            host_answer = http(container, url, timeout=5)
            assert host_answer["status"] == exec_answer["status"], url
            assert host_answer.get("body") == exec_answer.get("body"), url
            assert ("error" in host_answer) == ("error" in exec_answer), url
        assert probes._host_reaches[network] is True
    finally:
        remove_container(container)
        assert ctx.close() == []


@pytest.mark.docker
def test_the_grader_s_isolated_networks_are_probed_from_inside(tmp_path, docker_client):
    """A network without an address on the host's end of the bridge (the grader's own: run_network,
    the stack's) is never tried from the host: the probe runs inside and answers all the same."""
    from grader.docker import probes
    from grader.docker.containers import ISOLATED_OPTIONS

    ctx = make_context(tmp_path)
    network = docker_client.networks.create(ctx.name("isolated"), driver="bridge", internal=True,
                                            options=ISOLATED_OPTIONS, labels=ctx.labels)
    container = _serve(docker_client, ctx, network=network.name)
    try:
        ip, network_id = next(iter(probes.own_addresses(container).items()))
        assert network_id == network.id
        assert http(container, f"http://{ip}:8000/", timeout=5)["status"] == 200
        assert probes._host_reaches[network.id] is False
    finally:
        remove_container(container)
        network.remove()
        assert ctx.close() == []


@pytest.mark.docker
def test_an_address_the_host_cannot_reach_is_asked_from_inside(tmp_path, docker_client):
    """On a network the host has not reached yet, a request from the host that gets no HTTP answer is
    made again from inside; when inside answers, later probes of that network go there directly
    (Docker Desktop's VM, a firewall). Simulated with an address the host reaches differently: the
    container's loopback, which the test passes off as its address on the default bridge."""
    import socket

    from grader.docker import probes

    with socket.socket() as free:  # a port nothing on the host listens on
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    ctx = make_context(tmp_path)
    container = _serve(docker_client, ctx, bind="127.0.0.1", port=port)
    try:
        (bridge,) = container.attrs["NetworkSettings"]["Networks"].values()
        network = bridge["NetworkID"]
        known = probes._host_reaches.pop(network, None)
        bridge["IPAddress"] = container.attrs["NetworkSettings"]["IPAddress"] = "127.0.0.1"
        answer = http(container, f"http://127.0.0.1:{port}/", timeout=5)
        assert answer["status"] == 200 and probes._host_reaches[network] is False
    finally:
        probes._host_reaches.pop(network, None)
        if known is not None:
            probes._host_reaches[network] = known
        remove_container(container)
        assert ctx.close() == []


def test_the_host_reads_a_container_s_sockets_only_when_its_pid_is_that_container(tmp_path, monkeypatch):
    """/proc/<pid>/cgroup must name the container (another PID namespace, a reused PID: the exec probe
    answers instead)."""
    from grader.docker import probes

    monkeypatch.setattr(probes, "PROC", tmp_path)
    (tmp_path / "42" / "net").mkdir(parents=True)
    (tmp_path / "42" / "net" / "tcp").write_text(PROC_NET_TCP)
    (tmp_path / "42" / "cgroup").write_text("0::/system.slice/docker-" + "c" * 64 + ".scope\n")

    class Fake:  # pure logic: a container's attributes as docker-py returns them
        def __init__(self, container_id, pid):
            self.id, self.attrs = container_id, {"State": {"Pid": pid}}

    assert probes._host_tables(Fake("c" * 64, 42)) == {"tcp": PROC_NET_TCP}
    assert probes._host_tables(Fake("d" * 64, 42)) is None     # PID 42 is not that container
    assert probes._host_tables(Fake("c" * 64, 0)) is None      # not running
    assert probes._host_tables(Fake("c" * 64, 43)) is None     # no such process here


@pytest.mark.docker
def test_a_proxy_in_the_student_s_image_does_not_divert_the_grader_s_probes(tmp_path, docker_client):
    """An image with HTTP_PROXY/http_proxy in its environment (a student behind a campus proxy) is
    probed directly, from inside as from the host: the grader asks the API, not the proxy (a newcomer
    found 2.api-answers and 8.push-pull lost to an unreachable proxy)."""
    from grader.docker import probes

    ctx = make_context(tmp_path)
    proxy = {"HTTP_PROXY": "http://proxy.invalid:3128", "http_proxy": "http://proxy.invalid:3128",
             "ALL_PROXY": "http://proxy.invalid:3128"}
    container = _serve(docker_client, ctx, environment=proxy)
    try:
        ip, _ = next(iter(probes.own_addresses(container).items()))
        assert http(container, "http://127.0.0.1:8000/", timeout=5)["status"] == 200   # inside: exec
        assert http(container, f"http://{ip}:8000/", timeout=5)["status"] == 200      # its own address
    finally:
        remove_container(container)
        assert ctx.close() == []


def _local_server(handler_body):
    """A one-connection-at-a-time TCP server on 127.0.0.1 running handler_body(conn); (port, stop)."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.2)
    stopped = threading.Event()

    def serve():
        while not stopped.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.recv(65536)
                handler_body(conn, stopped)
        server.close()
    threading.Thread(target=serve, daemon=True).start()
    return server.getsockname()[1], stopped


def test_a_request_from_the_host_is_bounded_and_never_follows_a_redirect(monkeypatch):
    """A server that trickles its answer costs at most timeout + HOST_GRACE_S; a redirect (which could
    point at the host's own services) is left to the probe inside."""
    import time

    from grader.docker import probes

    monkeypatch.setattr(probes, "HOST_GRACE_S", 0.5)

    def trickle(conn, stopped):
        conn.sendall(b"HTTP/1.0 200 OK\r\n")
        while not stopped.wait(0.3):
            try:
                conn.sendall(b"X-Slow: yes\r\n")
            except OSError:
                return

    def redirect(conn, stopped):
        conn.sendall(b"HTTP/1.0 302 Found\r\nLocation: http://127.0.0.1:1/\r\nContent-Length: 0\r\n\r\n")

    port, stop_trickle = _local_server(trickle)
    try:
        started = time.monotonic()
        answer, connected = probes._http_from_host(f"http://127.0.0.1:{port}/", data=None, method="GET",
                                                   headers={}, timeout=1)
        assert time.monotonic() - started < 3 and answer["status"] is None and connected
        assert "no complete answer" in answer["error"]
    finally:
        stop_trickle.set()
    port, stop_redirect = _local_server(redirect)
    try:
        assert probes._http_from_host(f"http://127.0.0.1:{port}/", data=None, method="GET", headers={},
                                      timeout=2) == (None, True)
    finally:
        stop_redirect.set()
    answer, connected = probes._http_from_host("http://127.0.0.1:1/", data=None, method="GET", headers={}, timeout=2)
    assert answer["status"] is None and not connected    # refused: not known to be the server's answer


def test_an_empty_table_from_the_host_is_read_again_inside(monkeypatch):
    """Nothing listening, seen from the host, never decides alone: the exec probe says why (e.g. the
    container is at its pids limit), as before issue 13's host reads."""
    from grader.docker import probes

    monkeypatch.setattr(probes, "_host_tables", lambda container: {"tcp": PROC_NET_TCP.splitlines()[0]})
    monkeypatch.setattr(probes, "exec_python", lambda container, code, timeout: (1, "cannot fork" + NO_PROCESSES_LEFT))
    with pytest.raises(probes.ResourceError, match="process limit"):
        listeners(object())
    monkeypatch.setattr(probes, "_host_tables", lambda container: {"tcp": PROC_NET_TCP})
    assert ("0.0.0.0", 5000) in listeners(object())
