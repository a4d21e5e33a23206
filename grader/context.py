"""The grading run's context: options, scratch workspace, lazily built resources and cleanup."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grader import resources
from grader.constants import LABEL_GRADER, LABEL_RUN, NAME_PREFIX
from grader.docker import engine
from grader.errors import ResourceError
from grader.options import Options

log = logging.getLogger(__name__)

EventSink = Callable[[str, str], None]


class Context:
    """Everything a check may use. Resources are made on first use and cleaned up in close()."""

    def __init__(self, *, options: Options, run_id: str, workdir: Path, scratch: Path,
                 on_event: EventSink | None = None):
        self.options = options
        self.run_id = run_id
        self.workdir = workdir          # the scratch copy of the submission (build context)
        self.scratch = scratch          # run-private files outside the build context
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
        return f"{NAME_PREFIX}-{self.run_id}-{suffix}"

    def event(self, kind: str, text: str) -> None:
        log.info("%s: %s", kind, text)
        self._on_event(kind, text)

    # -- Docker ------------------------------------------------------------------------
    @property
    def docker(self):
        if self._docker is None:
            if self._docker_error is not None:
                raise self._docker_error
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
            problems += engine.sweep(self._docker, run_id=self.run_id)
        return problems
