"""Docker engine access: the client that answers, and the sweep of a run's labelled resources."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import docker
from docker.errors import APIError, DockerException, NotFound

from grader.constants import LABEL_RUN, NO_ENGINE
from grader.errors import EngineUnavailable

log = logging.getLogger(__name__)



def client(timeout: int = 120) -> docker.DockerClient:
    """A Docker SDK client that answers, or EngineUnavailable with the doctor's advice."""
    try:
        cli = docker.from_env(timeout=timeout)
        cli.ping()
        return cli
    except (DockerException, OSError) as exc:
        raise EngineUnavailable(NO_ENGINE, details=str(exc)) from None


@dataclass(frozen=True)
class ImageEntry:
    """One row of `docker images` (the engine's list, not an inspect of each image)."""

    id: str
    tags: tuple[str, ...]
    labels: dict

    @property
    def attrs(self) -> dict:
        return {"Labels": self.labels}


def list_images(cli: docker.DockerClient, *, filters: dict | None = None) -> list[ImageEntry]:
    """The engine's image list in one call. docker-py's `images.list()` inspects every image after
    listing, so an image another process removes meanwhile (a parallel grade, a cache trim) raises
    ImageNotFound; the list itself carries the id, tags and labels needed here."""
    return [ImageEntry(id=row["Id"], tags=tuple(t for t in row.get("RepoTags") or () if t != "<none>:<none>"),
                       labels=row.get("Labels") or {})
            for row in cli.api.images(filters=filters)]


IMAGE_PASSES = 3  # sweeps of a run's images: a parent listed before its child is removed in the next pass


def _has_children(exc: Exception) -> bool:
    return isinstance(exc, APIError) and exc.status_code == 409 and "dependent child" in str(exc)


def sweep(cli: docker.DockerClient, *, run_id: str) -> list[str]:
    """Remove every container, network, volume and image labelled with this run.

    The engine lists images newest first by their creation second, so a parent made in the same
    second as its child may come first and be refused ("image has dependent child images"): such
    images are tried again once the others are gone, up to IMAGE_PASSES times. Returns the problems.
    """
    problems: list[str] = []
    selector = {"label": f"{LABEL_RUN}={run_id}"}
    for kind, lister, remover in (
        ("container", lambda: cli.containers.list(all=True, filters=selector, ignore_removed=True),
         lambda c: c.remove(force=True, v=True)),
        ("network", lambda: cli.networks.list(filters=selector), lambda n: n.remove()),
        ("volume", lambda: cli.volumes.list(filters=selector), lambda v: v.remove(force=True)),
        ("image", lambda: list_images(cli, filters=selector), lambda i: cli.images.remove(i.id, force=True)),
    ):
        try:
            found = lister()
        except (APIError, OSError) as exc:
            problems.append(f"listing {kind}s: {exc}")
            continue
        for attempt in range(IMAGE_PASSES if kind == "image" else 1):
            refused = []
            for item in found:
                try:
                    remover(item)
                except NotFound:
                    pass
                except (APIError, OSError) as exc:
                    if _has_children(exc) and attempt + 1 < IMAGE_PASSES:
                        refused.append(item)
                    else:
                        problems.append(f"removing {kind} {getattr(item, 'name', item.id)}: {exc}")
            if not refused or len(refused) == len(found):
                problems += [f"removing {kind} {item.id}: it still has dependent child images"
                             for item in refused]
                break
            found = refused
    return problems
