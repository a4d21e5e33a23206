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
