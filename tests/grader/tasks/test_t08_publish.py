"""Task 8 checks: image-name rules (static) and the push/pull round trip on a small stack's API image."""

from __future__ import annotations

import uuid

import pytest

from grader.constants import LABEL_RUN
from grader.docker.engine import list_images
from grader.parse.references import parse_image
from grader.registry import get
from grader.tasks.t08_publish import tag_problem
from tests.grader.docker.test_stack import context, leftovers, small_stack
from tests.grader.tasks.test_t06_compose import alt, run


@pytest.mark.parametrize(("image", "problem"), [
    ("churn-service:2.1.0", "has no namespace"),
    ("acme/churn-service", "no tag"),
    ("acme/churn-service:latest", "the tag latest"),
    ("acme/churn-service:dev", "is not a version"),
    ("Acme/Churn:1.0", "not a valid image reference"),
])
def test_tag_mistakes(tmp_path, image, problem):
    outcome = run("8.tagged", alt(tmp_path, ("acme/churn-service:2.1.0", image)))
    assert not outcome.passed and problem in outcome.found


def test_no_image_name(tmp_path):
    outcome = run("8.tagged", alt(tmp_path, ("    image: acme/churn-service:2.1.0\n", "")))
    assert not outcome.passed and "no `image:`" in outcome.found


@pytest.mark.parametrize("image", ["ghcr.io/acme/churn-service:v2.1.0", "localhost:5000/acme/api:1",
                                   "acme/team/churn_api:2024.05.01"])
def test_good_names(image):
    assert tag_problem(image) is None


def test_parse_image():
    name = parse_image("localhost:5000/acme/api:1.0")
    assert (name.registry, name.repository, name.tag) == ("localhost:5000", "acme/api", "1.0")
    assert parse_image("acme/api").tag is None


def tagged_stack(tmp_path):
    """A context on the small stack whose API service is tagged grader-test/tiny-api:0.1.0."""
    root = small_stack(tmp_path / "sub")
    compose = root / "docker-compose.yml"
    compose.write_text(compose.read_text().replace("    container_name: fixed-api\n",
                                                   "    container_name: fixed-api\n    image: grader-test/tiny-api:0.1.0\n"))
    return context(tmp_path, root)


@pytest.mark.docker
def test_push_pull_round_trip_of_the_api_image(tmp_path, docker_client):
    ctx = tagged_stack(tmp_path)
    impl = get("8.push-pull")
    try:
        outcome = impl.call(ctx, {name: ctx.get(name) for name in impl.requires})
        registry = ctx.get("registry").address
        pushed = ctx.get("registry").ref("grader-test/tiny-api:0.1.0")  # under the run's folder
    finally:
        problems = ctx.close()
    assert outcome.passed, outcome
    assert outcome.message.startswith(f"pushed {pushed} ")
    assert "GET /health on port 8000 answered 200" in outcome.message
    assert problems == [] and leftovers(docker_client, ctx.run_id) == []
    assert not [t for i in list_images(docker_client) for t in i.tags if t.startswith(registry)]
    assert not docker_client.containers.list(all=True, filters={"label": f"{LABEL_RUN}={ctx.run_id}"})


@pytest.mark.docker
def test_a_kept_registry_that_goes_away_mid_grade_costs_the_student_nothing(tmp_path, docker_client):
    """The grader's kept registry stopped by hand during a grade (grader.docker.publish): the push
    goes to a throwaway registry of the run's own instead, with a note; 8.push-pull passes."""
    from grader.docker import publish

    name = f"mlops-grader-tool-registry-test-{uuid.uuid4().hex[:8]}"
    ctx = tagged_stack(tmp_path)
    impl = get("8.push-pull")
    try:
        kept = publish.kept_registry(ctx, name=name)
        ctx._resources["registry"] = kept   # as the provider would give it, under the test's own name
        assert not publish.gone(docker_client, kept)
        kept.container.stop(timeout=0)
        assert publish.gone(docker_client, kept)
        outcome = impl.call(ctx, {n: ctx.get(n) for n in impl.requires})
    finally:
        problems = ctx.close()
        publish.remove_kept(docker_client, name=name)
        publish.lock_path(name).unlink(missing_ok=True)
    assert outcome.passed, outcome
    assert f"/{ctx.run_id}/" not in outcome.message.split(" (")[0], "pushed to the run's own registry, not the kept one"
    assert any("kept registry went away" in w for w in ctx.warnings), ctx.warnings
    assert problems == [] and leftovers(docker_client, ctx.run_id) == []
