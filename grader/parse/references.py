"""Image references as Docker reads them (`[registry/]path[:tag][@digest]`), after the reference grammar
of distribution/reference (simplified: lower-case path components, a tag of [\\w][\\w.-]{0,127})."""

from __future__ import annotations

import re
from dataclasses import dataclass

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
