"""Progress while grading: a live status line on a terminal, one plain line per event otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text

from grader.constants import NO_ENGINE

KINDS = ("phase", "resource", "resource-failed", "check", "teardown")


class _Status:
    """The live line: spinner, phase, the latest activity and how long it has been running."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.spinner = Spinner("dots")

    def __rich__(self):
        p = self.progress
        since = time.monotonic() - p.activity_started
        line = Text.assemble((p.phase or "starting", "bold cyan"), " · ", p.activity or "…",
                             (f" ({since:.0f} s)", "dim"),
                             (f" · {p.passed} passed, {p.failed} failed", "dim"),
                             no_wrap=True, overflow="ellipsis")  # one line, whatever the width
        self.spinner.update(text=line)
        return self.spinner


class Progress:
    """Use as `on_event` for grader.run.grade, inside `with Progress(...) as progress:`."""

    def __init__(self, *, stream: TextIO | None = None, live: bool | None = None, verbose: bool = False):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.verbose = verbose
        self.started = self.activity_started = time.monotonic()
        self.phase: str | None = None
        self.activity: str | None = None
        self.passed = self.failed = 0
        self._said: set[str] = set()
        self._console = Console(file=self.stream, markup=False, emoji=False, highlight=False,
                                force_terminal=self.live or None, color_system="auto" if self.live else None)
        self._live: Live | None = None

    def __enter__(self) -> Progress:
        if self.live:
            self._live = Live(_Status(self), console=self._console, transient=True, refresh_per_second=4,
                              redirect_stdout=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = None

    def __call__(self, kind: str, text: str) -> None:
        line = self._line(kind, text)
        if kind == "phase":
            self.phase = text
        if kind not in ("check", "resource-failed"):  # e.g. "build: building Dockerfile.mlapp"
            self.activity, self.activity_started = text, time.monotonic()
        if kind == "check":
            failed = text.endswith(" failed")
            self.failed += failed
            self.passed += not failed
        if line is None:
            return
        if self.live:
            self._console.print(line)
        else:
            elapsed = time.monotonic() - self.started
            self.stream.write(f"[{elapsed:7.1f}s] {line.plain}\n")
            self.stream.flush()

    def _line(self, kind: str, text: str) -> Text | None:
        if kind == "resource-failed":
            name, _, message = text.partition(": ")
            if message in self._said:  # e.g. "no engine": said once, not once per resource
                return Text(f"  ✘ {name}: not available (see above)", style="red")
            self._said.add(message)
            if NO_ENGINE in message:  # the report states the full advice once, at its top
                return Text(f"  ✘ {name}: no Docker engine answers (what to do: see the report)", style="bold red")
            return Text(f"  ✘ {name}: {message}", style="red")
        if kind == "check":
            failed = text.endswith(" failed")
            if self.live and not failed and not self.verbose:
                return None  # on a terminal the live line counts passes; failures stay visible
            return Text(f"  {'✘' if failed else '✔'} {text}", style="red" if failed else "green")
        if kind == "phase":
            return Text(f"── {text}", style="bold cyan")
        if kind == "teardown":
            return Text(f"  {text}", style="yellow")
        if kind == "resource" and (self.verbose or not self.live):
            return Text(f"  {text}", style="dim")
        if kind not in KINDS:
            return Text(f"  {kind}: {text}")
        return None
