"""What a grading run is asked to do: the submission, modes, limits and timeouts (plain data)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Limits:
    """Resource limits for every container the grader starts (None: the engine's default).

    `memory` is a Docker size string ("1g", "512m"), `cpus` a number of CPUs (1.5), `pids` the
    largest number of processes in one container.
    """

    memory: str | None = None
    cpus: float | None = None
    pids: int | None = None

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
    """One grading run's inputs (`python -m grader` arguments as data)."""

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
        """The named timeout of `Timeouts`, in seconds, scaled by `timeout_scale`."""
        return getattr(self.timeouts, name) * self.timeout_scale
