"""Task 8: a versioned image name, and a push/pull round trip through a local registry."""

from __future__ import annotations

import logging

from grader.parse.references import parse_image
from grader.registry import check
from grader.results import fail, ok

log = logging.getLogger(__name__)

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


@check("8.push-pull", phase="late")
def push_pull(published):
    """The round trip itself runs in the background from the start of the grade (issue 13)."""
    if published.pulled_id != published.built_id:
        return fail("the pulled image differs from the one pushed",
                    expected=f"image {published.built_id[:19]}", found=f"image {published.pulled_id[:19]}")
    if published.run_error is not None:
        return fail("the pulled image does not serve the API", expected="GET /health to answer 200 in a container "
                    "of the pulled image", found=published.run_error.message, details=published.run_error.details)
    return ok(f"pushed {published.target} ({published.size_mb:.0f} MB), pulled it back in {published.seconds:.0f} s "
              f"in all, and it runs: {published.answered}")
