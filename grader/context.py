"""The grading run's context: options, scratch workspace, lazily built resources and cleanup."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LABEL_GRADER = "org.mlops-kit.grader"
LABEL_RUN = "org.mlops-kit.grader.run"


@dataclass(frozen=True)
class Limits:
    """Resource limits for every container the grader starts (None: engine default)."""

    memory: str | None = None      # e.g. "1g"
    cpus: float | None = None      # e.g. 1.0
    pids: int | None = None        # e.g. 512

    def container_kwargs(self) -> dict:
        """The limits as Docker SDK `containers.create/run` keyword arguments."""
        kwargs = {"mem_limit": self.memory, "pids_limit": self.pids,
                  "nano_cpus": int(self.cpus * 1e9) if self.cpus else None}
        return {k: v for k, v in kwargs.items() if v}

    def compose_limits(self) -> dict:
        """The limits as a compose service's `deploy.resources.limits`."""
        wanted = {"memory": self.memory, "cpus": None if self.cpus is None else str(self.cpus), "pids": self.pids}
        return {k: v for k, v in wanted.items() if v is not None}


@dataclass(frozen=True)
class Timeouts:
    """Upper bounds in seconds; multiplied by Options.timeout_scale on slow machines."""

    build: float = 900
    ready: float = 120        # a container answering / turning healthy
    stack_up: float = 300
    exec: float = 30
    push: float = 600


@dataclass(frozen=True)
class Options:
    submission: Path
    solution: bool = False
    task_ids: tuple[str, ...] = ()
    instructor: bool = False
    keep: bool = False                       # leave containers running for debugging
    no_cache: bool = False                   # build without the layer cache (cold-build figures)
    workroot: Path | None = None             # where scratch copies go (default: system temp)
    timeout_scale: float = 1.0
    limits: Limits = field(default_factory=Limits)
    timeouts: Timeouts = field(default_factory=Timeouts)

    def timeout(self, name: str) -> float:
        return getattr(self.timeouts, name) * self.timeout_scale


class ResourceError(Exception):
    """A resource (image, container, stack, ...) could not be made; checks needing it fail."""

    def __init__(self, message: str, *, blame: str | None = None, details: str | None = None,
                 expected: str | None = None):
        super().__init__(message)
        self.message = message
        self.blame = blame          # the check id whose hint explains the fix
        self.details = details      # e.g. the relevant lines of a build log
        self.expected = expected


EventSink = Callable[[str, str], None]


class Context:
    """Everything a check may use. Resources are made on first use and cleaned up in close()."""

    def __init__(self, *, options: Options, run_id: str, workdir: Path, scratch: Path,
                 on_event: EventSink | None = None):
        self.options = options
        self.run_id = run_id
        self.workdir = workdir          # the scratch copy of the submission (build context)
        self.scratch = scratch          # run-private files outside the build context
        self.shared: dict[str, Any] = {}  # state handed from one check to a later one
        self._on_event = on_event or (lambda kind, text: None)
        self._resources: dict[str, Any] = {}
        self._failures: dict[str, ResourceError] = {}
        self._cleanups: list[tuple[str, Callable[[], Any]]] = []
        self._docker = None
        self._docker_error: ResourceError | None = None

    # -- naming and labels -------------------------------------------------------------
    @property
    def labels(self) -> dict[str, str]:
        return {LABEL_GRADER: "1", LABEL_RUN: self.run_id}

    def name(self, suffix: str) -> str:
        return f"mlops-grader-{self.run_id}-{suffix}"

    def event(self, kind: str, text: str) -> None:
        log.info("%s: %s", kind, text)
        self._on_event(kind, text)

    # -- Docker ------------------------------------------------------------------------
    @property
    def docker(self):
        if self._docker is None:
            if self._docker_error is not None:
                raise self._docker_error
            from grader import engine

            try:
                self._docker = engine.client()
            except ResourceError as exc:
                self._docker_error = exc
                raise
        return self._docker

    # -- resources ---------------------------------------------------------------------
    def get(self, name: str) -> Any:
        """Return resource `name`, making it on first use; re-raise its failure every time."""
        if name in self._resources:
            return self._resources[name]
        if name in self._failures:
            raise self._failures[name]
        from grader import resources

        provider = resources.provider(name)
        started = time.monotonic()
        try:
            for dependency in provider.depends:
                self.get(dependency)
            value = provider.make(self)
        except ResourceError as exc:
            if exc.blame is None:
                exc.blame = provider.blame
            self._failures[name] = exc
            self.event("resource-failed", f"{name}: {exc.message}")
            raise
        self._resources[name] = value
        self.event("resource", f"{name} ready in {time.monotonic() - started:.1f} s")
        return value

    def failure(self, name: str) -> ResourceError | None:
        return self._failures.get(name)

    def defer(self, description: str, func: Callable[[], Any]) -> None:
        """Register a cleanup; close() runs them last-in first-out, whatever happened."""
        self._cleanups.append((description, func))

    def close(self) -> list[str]:
        """Run every cleanup, then sweep anything still labelled with this run. Never raises."""
        problems = []
        if self.options.keep:
            self.event("teardown", f"--keep: leaving resources labelled {LABEL_RUN}={self.run_id}")
            return problems
        while self._cleanups:
            description, func = self._cleanups.pop()
            try:
                func()
            except Exception as exc:  # cleanup must go on whatever one step does
                log.warning("cleanup %s failed: %s", description, exc)
                problems.append(f"{description}: {exc}")
        if self._docker is not None:
            from grader import engine

            problems += engine.sweep(self._docker, run_id=self.run_id)
        return problems
