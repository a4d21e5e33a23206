"""The reference images: cache-friendly layers, non-root, healthchecked, no compiler."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from grader.workspace import prepare

pytestmark = pytest.mark.docker
REPO = Path(__file__).resolve().parents[2]
BIG_LAYER = 10 * 1024 * 1024  # dependency layers are hundreds of MB; code layers are KB


def build(client, workdir: Path, tag: str, dockerfile: str = "Dockerfile.mlapp"):
    image, _ = client.images.build(path=str(workdir), dockerfile=dockerfile, tag=tag, rm=True,
                                   forcerm=True, labels={"org.mlops-kit.test": "1"})
    return image


def layers(client, image) -> list[tuple[str, int, str]]:
    """(layer id, size, created_by) of the image's own history, oldest first."""
    return [(h["Id"], h["Size"], h["CreatedBy"]) for h in reversed(client.api.history(image.id))]


@pytest.fixture(scope="module")
def images(tmp_path_factory, docker_client):
    """The reference API image, and the same image rebuilt after a change under starter/src."""
    tag = f"mlops-kit-test-{uuid.uuid4().hex[:8]}/churn-api"
    workdir = prepare(submission=REPO, dest=tmp_path_factory.mktemp("img") / "ref", solution=True)
    first = build(docker_client, workdir, f"{tag}:first")
    app = workdir / "starter" / "src" / "churn" / "app.py"
    app.write_text(app.read_text() + f"\n# cache probe {uuid.uuid4().hex}\n")
    second = build(docker_client, workdir, f"{tag}:second")
    yield first, second
    for t in (f"{tag}:first", f"{tag}:second"):
        docker_client.images.remove(t, force=True)


def test_code_change_reuses_the_dependency_layer(docker_client, images):
    first, second = (layers(docker_client, i) for i in images)
    assert images[0].id != images[1].id, "the code change did not reach the image"
    big = [(i, layer) for i, layer in enumerate(first) if layer[1] >= BIG_LAYER]
    assert big, "expected at least one large dependency layer"
    for index, (layer_id, size, created_by) in big:
        assert second[index][0] == layer_id, (
            f"layer {index} ({size // 2**20} MB, {created_by[:80]}) was rebuilt after a code change"
        )


def test_runs_as_non_root_with_an_exec_form_healthcheck(images):
    config = images[0].attrs["Config"]
    assert config["User"] not in ("", "0", "root", "0:0")
    assert config["Healthcheck"]["Test"][0] == "CMD", config["Healthcheck"]


def test_has_no_compiler(docker_client, images):
    out = docker_client.containers.run(
        images[0].id, ["sh", "-c", "for c in gcc cc g++ make; do command -v $c; done; id -u"],
        remove=True, user="10001",
    ).decode()
    assert out.split() == ["10001"], f"found compilers or a wrong uid: {out!r}"
