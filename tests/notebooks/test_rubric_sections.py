"""Every `section` link of the rubric points to an existing handout and one of its headings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from grader.rubric import load

REPO = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)                 # inline code keeps its text
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)      # links keep their text
    text = re.sub(r"<[^>]+>", "", text)                        # inline HTML goes
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())       # so does punctuation (\w keeps unicode)
    return text.replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """Anchors of every heading outside fenced code blocks, with GitHub's -1, -2 for repeats."""
    found: dict[str, int] = {}
    result = set()
    in_fence = False
    for line in markdown.splitlines():
        if FENCE.match(line.lstrip()):
            in_fence = not in_fence
            continue
        match = None if in_fence else HEADING.match(line)
        if match:
            slug = github_slug(match.group(2))
            count = found.get(slug, 0)
            found[slug] = count + 1
            result.add(slug if count == 0 else f"{slug}-{count}")
    return result


def sections() -> list[tuple[str, str]]:
    rubric = load()
    links = [(f"task {t.id}", t.section) for t in rubric.tasks]
    links += [(c.id, c.section) for c in rubric.checks]
    return links


@pytest.mark.parametrize("where, section", sections(), ids=[w for w, _ in sections()])
def test_section_resolves(where, section):
    path, _, anchor = section.partition("#")
    target = REPO / path
    assert target.is_file(), f"{where}: {path} does not exist"
    if anchor:
        found = anchors(target.read_text(encoding="utf-8"))
        assert anchor in found, f"{where}: no heading with anchor #{anchor} in {path}; anchors: {sorted(found)}"


def test_checks_link_to_their_own_lab():
    for check in load().checks:
        assert check.section.startswith(f"labs/{int(check.task_id):02d}-"), check.id


@pytest.mark.parametrize("heading, slug", [
    ("Bind to 0.0.0.0", "bind-to-0000"),
    ("Why host 0.0.0.0?", "why-host-0000"),
    ("Layer caching: requirements before code", "layer-caching-requirements-before-code"),
    ("Push, pull and run", "push-pull-and-run"),
    ("Dockerfile.mlapp — the `API` image", "dockerfilemlapp--the-api-image"),
    ("See [lab 2](02.md) now", "see-lab-2-now"),
])
def test_github_slug(heading, slug):
    assert github_slug(heading) == slug


def test_headings_in_code_blocks_and_repeats():
    text = "# Title\n```bash\n# a comment, not a heading\n```\n## Clean up\n## Clean up\n"
    assert anchors(text) == {"title", "clean-up", "clean-up-1"}
