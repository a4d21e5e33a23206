"""What a grading run is asked to do: the submission, modes, limits and timeouts (plain data)."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

# Docker's size strings (`docker run --memory 512m`, `docker builder prune --keep-storage 4g`):
# a number with an optional b/k/m/g/t suffix, in powers of 1024 (Docker's units.RAMInBytes).
SIZE = re.compile(r"^\s*(?P<number>\d+(\.\d+)?)\s*(?P<unit>[bkmgt]?)i?b?\s*$", re.IGNORECASE)
UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(text: str | int | float) -> int:
    """Bytes in a Docker size string ("512m", "2g", "1.5g", 1048576); ValueError when it is not one."""
    if isinstance(text, (int, float)):
        return int(text)
    match = SIZE.match(str(text))
    if not match:
        raise ValueError(f"not a size: {text!r} (use e.g. 512m or 2g)")
    return int(float(match["number"]) * UNITS[match["unit"].lower()])


# Container logs: the json-file driver keeps at most LOG_FILES files of LOG_FILE_SIZE each per
# container (Docker's `--log-opt max-size/max-file`), so a container that floods its output fills
# its own ring of files, not the grading machine's disk.
LOG_FILE_SIZE, LOG_FILES = "10m", "2"


@dataclass(frozen=True)
class Limits:
    """Resource limits for every container the grader starts and every build it runs (None: no limit).

    `memory` is a Docker size string ("2g", "512m") and the container gets no swap on top of it
    (memswap = memory, as PrairieLearn's grader does); `cpus` a number of CPUs (1.5); `pids` the
    largest number of processes (threads count) in one container; `build` the seconds one image
    build may take. `Limits.defaults()` are the values instructor mode applies unless told
    otherwise (README, "Limits").
    """

    memory: str | None = None
    cpus: float | None = None
    pids: int | None = None
    build: float | None = None

    @classmethod
    def defaults(cls) -> Limits:
        """Instructor mode's limits. Sources of the figures (measured on the reference, issue 14):
        MLflow 3.17's server was seen at up to 1.9 GiB (`docker stats`) with its job runner on, which
        the grader now turns off (constants.MLFLOW_SERVER_ENV: about 360 MB), so 3 GiB each leaves
        room for a student's own choices; PrairieLearn's grader host runs 0.9 CPU
        and 1024 processes, the reference's containers run under 110 threads each; a cold build of
        the reference MLflow image takes about 2 minutes here, so 600 s fails only builds that hang."""
        return cls(memory="3g", cpus=1.0, pids=1024, build=600)

    @property
    def any(self) -> bool:
        return any(v is not None for v in (self.memory, self.cpus, self.pids, self.build))

    def container_kwargs(self) -> dict:
        """The limits as Docker SDK `containers.create/run` keyword arguments (with bounded logs).

        Memory comes with `memswap_limit` equal to it: no swap beyond the memory limit.
        """
        kwargs = {"mem_limit": self.memory, "memswap_limit": self.memory, "pids_limit": self.pids,
                  "nano_cpus": int(self.cpus * 1e9) if self.cpus else None}
        found = {k: v for k, v in kwargs.items() if v}
        found["log_config"] = {"type": "json-file", "config": {"max-size": LOG_FILE_SIZE, "max-file": LOG_FILES}}
        return found

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


# Instructor mode's time budget for one submission, in seconds: the reference graded in 387 s warm
# with the default limits on a busy 2-core machine (issue 14), and a cold build of its MLflow image
# alone takes about 2 minutes; Submitty kills at 300 s per test case, PrairieLearn at the course's limit.
DEFAULT_TIME_BUDGET = 1500.0
# The grader's build cache (images it keeps so the next grade builds fast), at most this much
# disk, least recently used removed first (`docker builder prune --keep-storage` is the model).
DEFAULT_KEEP_STORAGE = "6g"


TIMEOUT_SCALE_ENV = "GRADER_TIMEOUT_SCALE"


def default_timeout_scale() -> float:
    """The timeout multiplier when none is given: $GRADER_TIMEOUT_SCALE (a positive number, for a
    machine known to be slow or busy: `make test` sets 2 while its two lanes share 2 cores), else 1.
    A value that is not a positive number is ignored (1)."""
    try:
        value = float(os.environ.get(TIMEOUT_SCALE_ENV, "1"))
    except ValueError:
        return 1.0
    return value if value > 0 else 1.0


def parse_registry(address: str) -> tuple[str, int] | None:
    """(host, port) of a registry address written HOST:PORT (a name or IPv4 address, a port 1-65535);
    None when it is not one."""
    host, sep, port = address.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    if not host or not all(c.isalnum() or c in ".-" for c in host):
        return None
    return host, int(port)


@dataclass(frozen=True)
class Options:
    """One grading run's inputs (`python -m grader` arguments as data).

    `time_budget` is the seconds the whole grade may take (None: no budget); `deadline` is set by
    `grader.run.grade` from it (a `time.monotonic()` value) and bounds every `timeout()`.
    `keep_storage` caps the build cache in bytes (a Docker size string). `registry` is a running
    registry's address (host:port) that 8.push-pull pushes to, under a folder named after the run,
    instead of starting its own (`python -m grader batch` passes one registry to every grade).
    """

    submission: Path
    solution: bool = False
    task_ids: tuple[str, ...] = ()
    instructor: bool = False
    keep: bool = False                       # leave containers running for debugging
    no_cache: bool = False                   # build without the layer cache (cold-build figures)
    workroot: Path | None = None             # where scratch copies go (default: system temp)
    timeout_scale: float = field(default_factory=default_timeout_scale)
    limits: Limits = field(default_factory=Limits)
    timeouts: Timeouts = field(default_factory=Timeouts)
    time_budget: float | None = None
    deadline: float | None = None
    keep_storage: str = DEFAULT_KEEP_STORAGE
    registry: str | None = None

    def remaining(self) -> float | None:
        """Seconds left before the deadline (never negative), or None without a budget."""
        return None if self.deadline is None else max(self.deadline - time.monotonic(), 0.0)
    # Instructor mode: a correct Dockerfile.mlapp the student's container tests (task 10) must also
    # pass on; None: the kit's own solutions/Dockerfile.mlapp, when the grader has one beside it.
    reference_dockerfile: Path | None = None

    def timeout(self, name: str, *, capped: bool = True) -> float:
        """The named timeout of `Timeouts`, in seconds, scaled by `timeout_scale`; `build` is also
        capped by `limits.build`, and (unless `capped` is False) by what is left of the time budget.

        Pass `capped=False` only to a wait that counts its timeout from an earlier moment and stops
        at the deadline itself (grader.docker.service.Service, whose waits count from the container's
        start): a cap computed now, counted from then, would end the wait before the deadline and
        read as the student's failure instead of the budget's."""
        seconds = getattr(self.timeouts, name) * self.timeout_scale
        if name == "build" and self.limits.build is not None:
            seconds = min(seconds, self.limits.build)
        left = self.remaining() if capped else None
        return seconds if left is None else min(seconds, left)
