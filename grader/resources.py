"""Resource providers: how each thing a check may need (image, container, stack) is made."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Modules that define providers; imported on first lookup so static runs never touch Docker.
PROVIDER_MODULES = ("grader.parse.dockerfiles", "grader.docker.compose", "grader.docker.build", "grader.docker.containers",
                    "grader.docker.stack", "grader.docker.publish", "grader.docker.tracking",
                    "grader.docker.container_tests")
_PROVIDERS: dict[str, Provider] = {}


@dataclass(frozen=True)
class Provider:
    name: str
    make: Callable[[Any], Any]   # make(ctx) -> value, or raise ResourceError
    blame: str | None            # the check whose hint explains a failure
    engine: bool                 # needs a Docker engine
    depends: tuple[str, ...]     # resources made first


def provides(name: str, *, blame: str | None = None, engine: bool = True, depends: tuple[str, ...] = ()):
    def register(func: Callable) -> Callable:
        _PROVIDERS[name] = Provider(name=name, make=func, blame=blame, engine=engine, depends=tuple(depends))
        return func

    return register


def _load() -> None:
    for module in PROVIDER_MODULES:
        importlib.import_module(module)


def provider(name: str) -> Provider:
    _load()
    try:
        return _PROVIDERS[name]
    except KeyError:
        raise KeyError(f"no provider for resource {name!r}") from None


def closure(names) -> set[str]:
    """The named resources and everything they depend on."""
    _load()
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(provider(name).depends)
    return seen


def needs_engine(names) -> bool:
    return any(provider(n).engine for n in closure(names))


def all_providers() -> dict[str, Provider]:
    """Every registered provider by resource name (for the name-table test and the docs)."""
    _load()
    return dict(_PROVIDERS)
