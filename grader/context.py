"""The grading run's context: options, scratch workspace, lazily built resources and cleanup."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from pathlib import Path
from typing import Any

from grader import resources
from grader.constants import LABEL_GRADER, LABEL_RUN, NAME_PREFIX
from grader.docker import engine
from grader.errors import ResourceError
from grader.options import Options

log = logging.getLogger(__name__)

EventSink = Callable[[str, str], None]
# Resources made side by side (issue 13: images, standalone containers, the stack, the registry and
# the push/pull overlap instead of running one after the other). Most of their time is waiting.
WORKERS = 6
# At teardown, how long to wait for resources still being made before cleaning up (seconds).
DRAIN_S = 60


class Context:
    """Everything a check may use. Resources are made on first use (or in the background, by
    prefetch) exactly once, from any thread, and cleaned up in close()."""

    def __init__(self, *, options: Options, run_id: str, workdir: Path, scratch: Path,
                 on_event: EventSink | None = None):
        self.options = options
        self.run_id = run_id
        self.workdir = workdir          # the scratch copy of the submission (build context)
        self.scratch = scratch          # run-private files outside the build context
        self._on_event = on_event or (lambda kind, text: None)
        self._resources: dict[str, Any] = {}
        self._failures: dict[str, ResourceError] = {}
        self._cleanups: list[tuple[str, Callable[[], Any], str | None]] = []  # (what, how, owning resource)
        self._local = threading.local()                   # .making: the resources this thread is making
        self._released: set[str] = set()
        self._releases: list[tuple[threading.Thread, list]] = []   # each release's thread and its batch
        # Released cleanups not yet run, one list per release(): each runs last-in first-out in its own
        # thread (two threads sharing one list could remove a volume before the container using it).
        self._releasing: list[list[tuple[str, Callable[[], Any], str | None]]] = []
        self._release_problems: list[str] = []
        self._docker = None
        self._docker_error: ResourceError | None = None
        self._lock = threading.RLock()                    # guards the dicts and lists above
        self._making: dict[str, threading.Lock] = {}      # one lock per resource: made once
        self._events = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._futures: list[Future] = []
        self._prefetched: set[str] = set()
        self.warnings: list[str] = []   # notes for the report that cost no points (student-mode policy)
        # Set by grader.run once no check that stops, restarts or times the stack is left (and by
        # close()): work started in the background of the late phase runs narrower until then, so
        # that it does not slow what those checks wait for (issue 13).
        self.unthrottled = threading.Event()
        # Set by grader.run when the late phase begins (and by close()): until then work started in
        # the background runs narrower still, beside the inspect checks and the stack coming up.
        self.late = threading.Event()
        # Set when close() begins: task 10's runs (the one background work that can take minutes) stop
        # at their next step instead of being waited for.
        self.closing = threading.Event()

    # -- naming and labels -------------------------------------------------------------
    @property
    def labels(self) -> dict[str, str]:
        return {LABEL_GRADER: "1", LABEL_RUN: self.run_id}

    def name(self, suffix: str) -> str:
        return f"{NAME_PREFIX}-{self.run_id}-{suffix}"

    def event(self, kind: str, text: str) -> None:
        log.info("%s: %s", kind, text)
        with self._events:  # one line at a time, whichever thread reports
            self._on_event(kind, text)

    def warn(self, text: str) -> None:
        """A note for the report's `errors` (prefixed "warning: "), said once; it costs no points.
        Thread-safe, like event()."""
        with self._lock:
            if text in self.warnings:
                return
            self.warnings.append(text)
        self.event("warning", text)

    # -- the time budget ---------------------------------------------------------------------
    @property
    def deadline(self) -> float | None:
        """When the run's time budget runs out (`time.monotonic()` seconds), None without one.
        `options.timeout(name)` is capped by it, so every wait ends by then."""
        return self.options.deadline

    def expired(self) -> bool:
        """True once the time budget has run out."""
        return self.deadline is not None and time.monotonic() >= self.deadline

    # -- Docker ------------------------------------------------------------------------
    @property
    def docker(self):
        with self._lock:
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
    def _known(self, name: str) -> tuple[bool, Any]:
        with self._lock:
            if name in self._released:  # run.release_unneeded released it: no check was to need it
                raise RuntimeError(f"grader bug: resource {name} was needed after it was released")
            if name in self._resources:
                return True, self._resources[name]
            if name in self._failures:
                raise self._failures[name]
            return False, None

    def get(self, name: str) -> Any:
        """Return resource `name`, making it on first use; re-raise its failure every time.

        Thread-safe: a second thread asking for a resource being made waits for it. Raises
        ResourceError (the memoized failure, blamed on the provider's check unless it names one).
        """
        known, value = self._known(name)
        if known:
            return value
        with self._lock:
            making = self._making.setdefault(name, threading.Lock())
        with making:
            known, value = self._known(name)  # made by another thread while this one waited
            if known:
                return value
            provider = resources.provider(name)
            started = time.monotonic()
            making = self._local.__dict__.setdefault("making", [])
            making.append(name)  # what defer() is called for meanwhile belongs to this resource
            try:
                for dependency in provider.depends:
                    self.get(dependency)
                value = provider.make(self)
            except ResourceError as exc:
                if exc.blame is None:
                    exc.blame = provider.blame
                with self._lock:
                    self._failures[name] = exc
                self.event("resource-failed", f"{name}: {exc.message}")
                raise
            finally:
                making.pop()
            with self._lock:
                self._resources[name] = value
            self.event("resource", f"{name} ready in {time.monotonic() - started:.1f} s")
            return value

    def made(self, name: str) -> bool:
        """True once `name` has been made or has failed (either way get() will not make it again)."""
        with self._lock:
            return name in self._resources or name in self._failures or name in self._released

    def failure(self, name: str) -> ResourceError | None:
        with self._lock:
            return self._failures.get(name)

    def prefetch(self, names: Iterable[str]) -> None:
        """Start making `names` in background threads, in this order; a failure is memoized for
        the checks that need it, and a grader bug is logged and raised again to them by get().
        A name already prefetched is not started twice; once close() has begun nothing starts."""
        with self._lock:
            if self.closing.is_set():  # close() has begun: nothing new starts
                return
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix=f"grader-{self.run_id}")
            for name in names:
                if name in self._prefetched:  # already on its way: a second one would only wait for it
                    continue
                self._prefetched.add(name)
                self._futures.append(self._pool.submit(self._make_quietly, name))

    def _make_quietly(self, name: str) -> None:
        try:
            self.get(name)
        except ResourceError:
            pass  # memoized: the checks that need it report it
        except Exception:  # a grader bug: the check that needs it makes it again and reports it
            log.exception("making %s in the background failed", name)

    def defer(self, description: str, func: Callable[[], Any]) -> None:
        """Register a cleanup; close() runs them last-in first-out, whatever happened. A cleanup
        registered while a resource is being made (in the same thread) belongs to it (release())."""
        making = getattr(self._local, "making", None)
        with self._lock:
            self._cleanups.append((description, func, making[-1] if making else None))

    def release(self, names: Iterable[str]) -> list[str]:
        """Clean up, now and in a background thread, the made resources `names` no check will use
        again (issue 13: the standalone containers, the registry and the stack otherwise stay up,
        running their healthchecks, until the whole run ends). Their own cleanups run last-in first-out,
        as in close(), which waits for them before its own; getting a released resource afterwards
        is a grader bug (RuntimeError). Nothing is released with --keep or once close() has begun.
        Returns the names released."""
        if self.options.keep or self.closing.is_set():
            return []
        with self._lock:
            chosen = sorted(n for n in set(names) if n in self._resources and n not in self._released)
            if not chosen:
                return []
            self._released.update(chosen)
            for name in chosen:
                del self._resources[name]
            # Moved, never dropped: whatever a release thread has not run yet, close() runs itself.
            batch = [c for c in self._cleanups if c[2] in chosen]
            self._releasing.append(batch)
            self._cleanups = [c for c in self._cleanups if c[2] not in chosen]
        thread = threading.Thread(target=self._run_releasing, args=(batch,), name=f"grader-{self.run_id}-release",
                                  daemon=True)
        with self._lock:
            self._releases.append((thread, batch))
        thread.start()
        self.event("release", f"{', '.join(chosen)}: no check left needs {'them' if len(chosen) > 1 else 'it'}")
        return chosen

    def _run_releasing(self, batch: list | None = None, *, skip: tuple = ()) -> list[str]:
        """Run one release's cleanups (`batch`, one of `_releasing`; None: every batch left but those
        in `skip`, one after another), last in first out; the problems met."""
        problems = []
        while True:
            with self._lock:
                if batch is None:
                    left = [b for b in self._releasing if b and not any(b is s for s in skip)]
                    if not left:
                        return problems
                    description, func, _ = left[-1].pop()
                else:
                    if not batch:
                        self._releasing = [b for b in self._releasing if b is not batch]
                        return problems
                    description, func, _ = batch.pop()
            try:
                func()
            except Exception as exc:  # cleanup must go on whatever one step does
                log.warning("cleanup %s failed: %s", description, exc)
                problems.append(f"{description}: {exc}")
                with self._lock:
                    self._release_problems.append(f"{description}: {exc}")

    def close(self) -> list[str]:
        """Stop background work, run every cleanup, then sweep anything still labelled with this
        run. Never raises; returns the problems met."""
        problems = []
        with self._lock:  # prefetch() checks it under the lock: no future is added after this
            self.closing.set()
        self.late.set()
        self.unthrottled.set()
        if self._pool is not None:
            for future in self._futures:
                future.cancel()  # not started yet: never started
            _, running = wait_futures(self._futures, timeout=DRAIN_S)
            if running:
                problems.append(f"{len(running)} resource(s) still being made after {DRAIN_S} s")
            self._pool.shutdown(wait=False, cancel_futures=True)
        if self.options.keep:
            self.event("teardown", f"--keep: leaving resources labelled {LABEL_RUN}={self.run_id}")
            return problems
        deadline = time.monotonic() + DRAIN_S
        stuck = []
        for thread, batch in list(self._releases):  # what they remove must be gone before, e.g., its network
            if thread.ident is None:  # never started (interrupted): its cleanups are run below
                continue
            thread.join(max(deadline - time.monotonic(), 0))
            if thread.is_alive():
                problems.append(f"a release still running after {DRAIN_S} s")
                stuck.append(batch)
        # Any a release thread never reached (interrupted before it started); never the steps of one
        # still running (they would race its own, out of order): the label sweep below removes those.
        self._run_releasing(skip=tuple(stuck))
        with self._lock:  # a stuck release may still add one: what it adds later is only logged
            problems += self._release_problems
        while True:
            with self._lock:
                if not self._cleanups:
                    break
                description, func, _ = self._cleanups.pop()
            started = time.monotonic()
            try:
                func()
                log.debug("cleanup %s: %.1f s", description, time.monotonic() - started)
            except Exception as exc:  # cleanup must go on whatever one step does
                log.warning("cleanup %s failed: %s", description, exc)
                problems.append(f"{description}: {exc}")
        if self._docker is not None:
            problems += engine.sweep(self._docker, run_id=self.run_id)
        return problems
