"""grader.docker.engine.sweep: a run's images go even when a parent is listed before its child
(pure logic on a stand-in for the engine; the real sweep runs after every Docker test's grade)."""

from __future__ import annotations

from types import SimpleNamespace

from docker.errors import APIError

from grader.docker import engine


class _Images:
    """Images where `parent` cannot go while `child` is there (the engine's 409)."""

    def __init__(self, ids, children):
        self.left, self.children = list(ids), children

    def remove(self, image_id, force=False):
        if any(c in self.left for c in self.children.get(image_id, ())):
            raise APIError("conflict", response=SimpleNamespace(status_code=409, url="/images", reason="Conflict"),
                           explanation="conflict: unable to delete (cannot be forced) - image has dependent child images")
        self.left.remove(image_id)


def _client(images: _Images):
    nothing = SimpleNamespace(list=lambda **kwargs: [])
    rows = [{"Id": i, "RepoTags": [], "Labels": {}} for i in images.left]
    return SimpleNamespace(containers=nothing, networks=nothing, volumes=nothing, images=images,
                           api=SimpleNamespace(images=lambda filters=None: list(rows)))


def test_a_parent_listed_before_its_child_is_removed_in_a_later_pass():
    images = _Images(["parent", "middle", "child"], {"parent": ["middle"], "middle": ["child"]})
    assert engine.sweep(_client(images), run_id="r") == []
    assert images.left == []


def test_an_image_another_run_still_builds_on_is_reported_not_retried_forever():
    images = _Images(["mine"], {"mine": ["theirs"]})
    images.left.append("theirs")  # not this run's: never listed, never removed
    client = _client(images)
    client.api = SimpleNamespace(images=lambda filters=None: [{"Id": "mine", "RepoTags": [], "Labels": {}}])
    problems = engine.sweep(client, run_id="r")
    assert problems == ["removing image mine: it still has dependent child images"]
