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
    # May be removed before teardown, once no check left needs it or a view of it (grader.run; issue
    # 13: an idle container still runs its healthcheck every few seconds until the run ends).
    releasable: bool = False
    view_of: str | None = None   # another resource whose live object this one's value is (or uses)


def provides(name: str, *, blame: str | None = None, engine: bool = True, depends: tuple[str, ...] = (),
             releasable: bool = False, view_of: str | None = None):
    """Register `func(ctx) -> value` as the maker of resource `name` (made once per run, see Context.get).

    `blame` is the check a failure is reported on; `engine` says it needs Docker; `depends` are made
    first. `releasable` resources may be cleaned up as soon as no check left needs them or a resource
    that is a `view_of` them (Context.release)."""
    def register(func: Callable) -> Callable:
        _PROVIDERS[name] = Provider(name=name, make=func, blame=blame, engine=engine, depends=tuple(depends),
                                    releasable=releasable, view_of=view_of)
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
    return needed(names, made=lambda name: False)


def views(name: str) -> set[str]:
    """The resource and every resource that is a view of it (`view_of`), directly or not."""
    _load()
    found = {name}
    while True:
        more = {n for n, p in _PROVIDERS.items() if p.view_of in found} - found
        if not more:
            return found
        found |= more


def needed(names, *, made) -> set[str]:
    """The resources that checks taking `names` will still use: those names, and the dependencies of
    any not yet in `made` (a made resource is not made again, so its own dependencies are not used).
    `made(name) -> bool`."""
    _load()
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            if not made(name):
                todo.extend(provider(name).depends)
    return seen


def needs_engine(names) -> bool:
    return any(provider(n).engine for n in closure(names))


def all_providers() -> dict[str, Provider]:
    """Every registered provider by resource name (for the name-table test and the docs)."""
    _load()
    return dict(_PROVIDERS)
