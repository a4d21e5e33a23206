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


def context(tmp_path: Path) -> Context:
    return Context(options=Options(submission=tmp_path), run_id=uuid.uuid4().hex[:10], workdir=tmp_path,
                   scratch=tmp_path)


@pytest.mark.docker
def test_round_trip_through_a_local_registry(tmp_path, docker_client):
    ctx = context(tmp_path)
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
