"""Task 8: a versioned image name, and a push/pull round trip through a local registry."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

from docker.errors import APIError

from grader.docker import publish
from grader.docker.probes import remove_container
from grader.docker.service import Service, exposed_ports
from grader.errors import ResourceError
from grader.registry import check
from grader.results import fail, ok

log = logging.getLogger(__name__)

# Docker's reference grammar, simplified: lower-case path components, a tag of [\w][\w.-]{0,127}.
COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class ImageName:
    registry: str | None
    path: tuple[str, ...]     # namespace components then the name
    tag: str | None

    @property
    def repository(self) -> str:
        return "/".join(self.path)


def parse_image(ref: str) -> ImageName | None:
    """Split an image reference into registry, path and tag; None if Docker would reject it."""
    name, _, _digest = ref.partition("@")
    parts = name.split("/")
    registry = None
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        registry, parts = parts[0], parts[1:]
    tag = None
    if ":" in parts[-1]:
        parts[-1], tag = parts[-1].split(":", 1)
        if not TAG.match(tag):
            return None
    if not parts or not all(COMPONENT.match(p) for p in parts):
        return None
    return ImageName(registry=registry, path=tuple(parts), tag=tag)


def tag_problem(ref: str | None) -> str | None:
    """Why an `image:` is not `<namespace>/<name>:<version>`, or None."""
    if not ref:
        return "no `image:` next to `build:`, so compose names the image after the project"
    name = parse_image(ref)
    if name is None:
        return f"`{ref}` is not a valid image reference (lower-case name, tag of letters, digits, . _ -)"
    if len(name.path) < 2:
        return f"`{ref}` has no namespace (the part before the slash, e.g. your Docker Hub user)"
    if name.tag is None or name.tag == "latest":
        return f"`{ref}` has {'no tag (so it means latest)' if name.tag is None else 'the tag latest'}"
    if not any(ch.isdigit() for ch in name.tag):
        return f"`{ref}`: the tag `{name.tag}` is not a version (e.g. 1.0.0)"
    return None


@check("8.tagged", phase="static")
def tagged(compose):
    model = compose
    (api,) = model.require("mlapp")
    ref = model.service(api).get("image")
    problem = tag_problem(ref)
    if problem:
        return fail(f"the API service `{model.mlapp}` has no versioned image name",
                    expected="`image: <namespace>/<name>:<version>`, e.g. mlops-kit/churn-api:1.0.0",
                    found=problem)
    return ok(f"`{model.mlapp}` is tagged {ref}")


def run_health(ctx, ref: str) -> str:
    """Run the pulled image standalone and wait for GET /health 200 from inside it; what answered."""
    container = ctx.docker.containers.run(ref, detach=True, name=ctx.name("published"), labels=ctx.labels,
                                          **ctx.options.limits.container_kwargs())
    try:
        api = Service(container=container, role="mlapp", name="pulled image's",
                      preferred_ports=tuple(exposed_ports(container.attrs)), started=time.monotonic())
        api.answering(timeout=ctx.options.timeout("ready"))
        return f"GET /health on port {api.port} answered 200"
    finally:
        remove_container(container)


@check("8.push-pull", phase="late")
def push_pull(ctx, compose, stack_images, registry):
    model = compose
    (api,) = model.require("mlapp")
    ref = model.service(api).get("image")
    name = parse_image(ref) if ref else None
    if name is None:
        raise ResourceError(f"the API service `{model.mlapp}` has no usable `image:` name to publish",
                            blame="8.tagged")
    built = stack_images[model.mlapp]
    target = registry.ref(f"{name.repository}:{name.tag or 'latest'}")
    cli = ctx.docker
    timeout = ctx.options.timeout("push")
    started = time.monotonic()
    ctx.defer(f"untag {target}", lambda: publish.untag(cli, target))
    try:
        publish.tag(cli, built.tag, target)
        publish.push(cli, target, timeout=timeout)
        publish.untag(cli, target)
        pulled = publish.pull(cli, target, timeout=timeout)
    except (APIError, ResourceError) as exc:
        return fail("the image did not round-trip through the registry",
                    expected=f"docker push and docker pull of {target} to succeed",
                    found=getattr(exc, "message", str(exc)))
    seconds = time.monotonic() - started
    size_mb = (pulled.attrs.get("Size") or 0) / 1e6
    ctx.event("publish", f"push + pull of {target} ({size_mb:.0f} MB) in {seconds:.1f} s")
    if pulled.id != built.id:
        return fail("the pulled image differs from the one pushed",
                    expected=f"image {built.id[:19]}", found=f"image {pulled.id[:19]}")
    try:
        answered = run_health(ctx, target)
    except (APIError, ResourceError) as exc:
        return fail("the pulled image does not serve the API", expected="GET /health to answer 200 in a container "
                    "of the pulled image", found=getattr(exc, "message", str(exc)), details=getattr(exc, "details", None))
    return ok(f"pushed {target} ({size_mb:.0f} MB), pulled it back in {seconds:.0f} s in all, and it runs: {answered}")
