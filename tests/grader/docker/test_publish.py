"""grader.docker.publish: a real local registry, and a push/pull round trip of a small image."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from grader.constants import LABEL_RUN
from grader.context import Context
from grader.docker import publish
from grader.errors import ResourceError
from grader.options import Options


def context(tmp_path: Path, **options) -> Context:
    return Context(options=Options(submission=tmp_path, **options), run_id=uuid.uuid4().hex[:10],
                   workdir=tmp_path, scratch=tmp_path)


@pytest.fixture
def kept_name(docker_client):
    """A kept registry of the test's own (the machine's one serves the suite's grades meanwhile)."""
    name = f"mlops-grader-tool-registry-test-{uuid.uuid4().hex[:8]}"
    yield name
    publish.remove_kept(docker_client, name=name)
    publish.lock_path(name).unlink(missing_ok=True)


def round_trip(docker_client, registry, repository: str) -> list[str]:
    """Push hello-world as `repository`:1.0.0 under the registry's folder, pull it back; the push's progress."""
    ref = registry.ref(f"{repository}:1.0.0")
    source = docker_client.images.get("hello-world:latest")
    source.tag(*ref.rsplit(":", 1))
    try:
        progress = publish.push(docker_client, ref, timeout=120)
        publish.untag(docker_client, ref)
        assert publish.pull(docker_client, ref, timeout=120).id == source.id
        return progress
    finally:
        publish.untag(docker_client, ref)


@pytest.mark.docker
def test_grades_share_the_kept_registry_and_the_layers_pushed_to_it(tmp_path, docker_client, kept_name):
    """Issue 13: a grade pushes to the machine's kept registry, under a folder named after the run; a
    later grade finds it running and the engine mounts the layers already there instead of uploading
    them. It is a grader tool (no run label): the grades' teardowns leave it running."""
    ports = []
    for index in range(2):
        ctx = context(tmp_path)
        try:
            kept = publish.kept_registry(ctx, name=kept_name)
            assert kept.namespace == ctx.run_id and kept.ref("a/b:1") == f"localhost:{kept.port}/{ctx.run_id}/a/b:1"
            assert publish.KEPT_LABELS.items() <= kept.container.labels.items() and LABEL_RUN not in kept.container.labels
            progress = round_trip(docker_client, kept, "mlops-kit/churn-api")
            if index:
                assert any("Mounted from" in line or "exists" in line for line in progress), progress
                assert not any(line.endswith("Pushed") for line in progress), progress
            assert publish.remove_kept_unused(docker_client, name=kept_name) is None, "in use: it stays"
            ports.append(kept.port)
        finally:
            assert ctx.close() == []
        assert publish.find_kept(docker_client, name=kept_name) is not None, "a grade's teardown leaves it running"
    assert ports[0] == ports[1]
    assert publish.remove_kept_unused(docker_client, name=kept_name) is True
    assert publish.find_kept(docker_client, name=kept_name) is None
    assert publish.remove_kept_unused(docker_client, name=kept_name) is False


@pytest.mark.docker
def test_a_full_kept_registry_starts_afresh_only_when_no_grade_uses_it(tmp_path, docker_client, kept_name):
    """Past its storage cap the kept registry is started afresh (empty), but never under a grade that
    is pushing to it: that grade holds the lock, and the full registry serves one more grade."""
    first = context(tmp_path)
    try:
        used = publish.kept_registry(first, name=kept_name)
        round_trip(docker_client, used, "x/y")
        assert publish.registry_bytes(used.container) > 0
        second = context(tmp_path)
        try:
            assert publish.kept_registry(second, name=kept_name, keep_bytes=0).container.id == used.container.id
        finally:
            assert second.close() == []
    finally:
        assert first.close() == []
    events = []
    third = Context(options=Options(submission=tmp_path), run_id=uuid.uuid4().hex[:10], workdir=tmp_path,
                    scratch=tmp_path, on_event=lambda kind, text: events.append(text))
    try:
        fresh = publish.kept_registry(third, name=kept_name, keep_bytes=0)
        assert fresh.container.id != used.container.id
        assert any("started afresh" in text for text in events), events
    finally:
        assert third.close() == []


@pytest.mark.docker
def test_round_trip_through_a_local_registry(tmp_path, docker_client):
    """With --no-cache (cold figures) a run starts a throwaway registry of its own, labelled with the run."""
    ctx = context(tmp_path, no_cache=True)
    source = docker_client.images.get("hello-world:latest")
    ref = None
    try:
        registry = ctx.get("registry")
        assert registry.container.labels[LABEL_RUN] == ctx.run_id
        assert registry.address == f"localhost:{registry.port}"
        ref = registry.ref(f"grader-test/hello:{ctx.run_id}")
        repository, tag = ref.rsplit(":", 1)
        source.tag(repository, tag=tag)
        progress = publish.push(docker_client, ref, timeout=120)
        assert any("Pushed" in line or "exists" in line for line in progress), progress
        publish.untag(docker_client, ref)
        assert ref not in docker_client.images.get(source.id).tags
        pulled = publish.pull(docker_client, ref, timeout=120)
        assert pulled.id == source.id
    finally:
        if ref:
            publish.untag(docker_client, ref)
        assert ctx.close() == []
    assert not docker_client.containers.list(all=True, filters={"label": f"{LABEL_RUN}={ctx.run_id}"})
    assert ref not in docker_client.images.get(source.id).tags


@pytest.mark.docker
def test_pushing_to_a_registry_that_is_not_there_fails_cleanly(tmp_path, docker_client):
    ref = "localhost:1/grader-test/nothing:1"
    docker_client.images.get("hello-world:latest").tag("localhost:1/grader-test/nothing", tag="1")
    try:
        with pytest.raises(ResourceError, match=r"docker push localhost:1/grader-test/nothing:1 failed"):
            publish.push(docker_client, ref, timeout=60)
    finally:
        publish.untag(docker_client, ref)


@pytest.mark.docker
def test_two_runs_share_a_batch_registry_each_in_its_own_folder(tmp_path, docker_client):
    """With --registry (a batch's), a run starts no registry: it pushes under a folder named after
    itself, and its teardown leaves the shared registry running (the batch removes it)."""
    labels = {"org.mlops-kit.grader": "1", LABEL_RUN: uuid.uuid4().hex[:12]}
    container, network, port = publish.start_registry(
        docker_client, name=f"mlops-grader-{labels[LABEL_RUN]}-registry", labels=labels, timeout=60)
    source = docker_client.images.get("hello-world:latest")
    refs = []
    try:
        for index in range(2):
            ctx = Context(options=Options(submission=tmp_path, registry=f"localhost:{port}"),
                          run_id=uuid.uuid4().hex[:10], workdir=tmp_path, scratch=tmp_path / str(index))
            try:
                shared = ctx.get("registry")
                assert shared.container is None and shared.namespace == ctx.run_id
                ref = shared.ref("mlops-kit/churn-api:1.0.0")
                assert ref == f"localhost:{port}/{ctx.run_id}/mlops-kit/churn-api:1.0.0"
                refs.append(ref)
                repository, tag = ref.rsplit(":", 1)
                source.tag(repository, tag=tag)
                publish.push(docker_client, ref, timeout=120)
                publish.untag(docker_client, ref)
                assert publish.pull(docker_client, ref, timeout=120).id == source.id
            finally:
                assert ctx.close() == []
            container.reload()
            assert container.status == "running"
    finally:
        for ref in refs:
            publish.untag(docker_client, ref)
        publish.remove_registry(container, network)


@pytest.mark.docker
def test_a_shared_registry_that_does_not_answer_is_replaced_by_the_run_s_own(tmp_path):
    """The batch's fault is not the student's: the grade starts its own registry and says so, without
    waiting out SHARED_WAIT_S when nothing listens there (a refused connection)."""
    ctx = Context(options=Options(submission=tmp_path, registry="localhost:1"), run_id=uuid.uuid4().hex[:10],
                  workdir=tmp_path, scratch=tmp_path)
    try:
        with pytest.raises(publish._NothingThere):
            publish._answers("http://localhost:1/v2/", give_up=True)
        own = ctx.get("registry")  # the machine's kept registry, as without --registry
        assert own.namespace == ctx.run_id and publish._answers(f"http://127.0.0.1:{own.port}/v2/")
        assert any("does not answer" in w for w in ctx.warnings)
    finally:
        assert ctx.close() == []


@pytest.mark.docker
def test_no_other_container_reaches_the_registry(tmp_path, docker_client):
    """The registry has a network of its own: a container on the default bridge (where a build's RUN
    steps run) cannot reach it, so it cannot read what other grades pushed."""
    from tests.grader.dockerkit import BASE

    labels = {"org.mlops-kit.grader": "1", LABEL_RUN: uuid.uuid4().hex[:12]}
    container, network, port = publish.start_registry(
        docker_client, name=f"mlops-grader-{labels[LABEL_RUN]}-registry", labels=labels, timeout=60)
    try:
        container.reload()
        (address,) = [n["IPAddress"] for n in container.attrs["NetworkSettings"]["Networks"].values()]
        probe = ("import socket, sys\ntry:\n    socket.create_connection((sys.argv[1], 5000), 3)\n"
                 "except OSError:\n    print('unreachable')\nelse:\n    print('reached')")
        out = docker_client.containers.run(BASE, ["python", "-c", probe, address], remove=True, labels=labels)
        assert out.decode().strip() == "unreachable"
        assert publish._answers(f"http://127.0.0.1:{port}/v2/")  # the engine (and the grader) still do
    finally:
        publish.remove_registry(container, network)


def test_a_registry_address_is_host_and_port():
    from grader.options import parse_registry

    assert parse_registry("localhost:5000") == ("localhost", 5000)
    assert parse_registry("127.0.0.1:32768") == ("127.0.0.1", 32768)
    for bad in ("localhost", "localhost:", ":5000", "localhost:0", "localhost:70000", "local host:5000",
                "localhost:5000/x"):
        assert parse_registry(bad) is None, bad
