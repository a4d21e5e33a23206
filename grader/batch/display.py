"""Progress of a batch: a live panel on a terminal, one plain line per event otherwise (CI logs).

The live panel shows done/total, failures so far, the ETA and one line per worker with the student
and the last line its grader printed (e.g. "── build" or "mlapp_image ready in 12.3 s").
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from grader.batch.records import GRADED, Record
from grader.reporters.explain import points

REFRESH_S = 0.25


def duration(seconds: float | None) -> str:
    """12 -> "12 s", 125 -> "2 min 5 s", 7300 -> "2 h 1 min"; None -> "–"."""
    if seconds is None:
        return "–"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


class Display:
    """Feed it batch events; use as a context manager. `live=None` means: live only on a terminal."""

    def __init__(self, *, stream: TextIO | None = None, live: bool | None = None):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.began = time.monotonic()
        self.total = self.done = self.failures = self.skipped = 0
        self.jobs = 1
        self.durations: list[float] = []
        self.activity: dict[str, tuple[float, str]] = {}   # student -> (started, last line)
        self._console = Console(file=self.stream, markup=False, emoji=False, highlight=False,
                                force_terminal=self.live or None, color_system="auto" if self.live else None)
        self._live: Live | None = None
        self._last_refresh = 0.0

    def __enter__(self) -> Display:
        if self.live:
            self._live = Live(self._panel(), console=self._console, auto_refresh=False, transient=True,
                              redirect_stdout=False, redirect_stderr=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = None

    # -- events ------------------------------------------------------------------------------
    def plan(self, *, total: int, skipped: int, jobs: int) -> None:
        """Announce the work: `total` submissions to grade, `skipped` unchanged ones, `jobs` at once."""
        self.total, self.skipped, self.jobs = total, skipped, jobs
        self._say(f"{total} to grade, {skipped} unchanged (skipped; --force regrades them), {jobs} at a time")

    def note(self, text: str) -> None:
        """One line of information (e.g. a cleaned-up run), above the live panel."""
        self._say(text)

    def started(self, student: str) -> None:
        """A worker started grading `student`."""
        self.activity[student] = (time.monotonic(), "starting")
        if not self.live:
            self._say(f"{student}: grading")

    def progress(self, student: str, line: str) -> None:
        """What the worker grading `student` is doing now (the last line its grader printed)."""
        if student in self.activity:
            self.activity[student] = (self.activity[student][0], line)

    def finished(self, record: Record) -> None:
        """`record` was committed: count it (a status other than graded is a failure) and say so."""
        self.activity.pop(record.student, None)
        self.done += 1
        if record.status != GRADED:
            self.failures += 1
        elif record.duration_s:
            self.durations.append(record.duration_s)
        if record.status == GRADED:
            what = f"{points(record.score)}/{points(record.max_score)}"
        else:
            what = f"{record.status}: {record.reason}"
        self._say(f"[{self.done}/{self.total}] {record.student}: {what} ({self.counts()})")

    def tick(self) -> None:
        """Redraw the live panel, at most every REFRESH_S seconds (call it from the scheduling loop)."""
        now = time.monotonic()
        if self._live is not None and now - self._last_refresh >= REFRESH_S:
            self._live.update(self._panel(), refresh=True)
            self._last_refresh = now

    # -- rendering ---------------------------------------------------------------------------
    def eta_s(self) -> float | None:
        """Seconds left: remaining submissions x mean graded duration / workers; None before the first grade."""
        if not self.durations:
            return None
        remaining = self.total - self.done
        mean = sum(self.durations) / len(self.durations)
        return remaining * mean / max(1, min(self.jobs, remaining or 1))

    def counts(self) -> str:
        """"N failed, ETA ..." for the plain lines."""
        return f"{self.failures} failed, ETA {duration(self.eta_s())}"

    def _panel(self):
        elapsed = time.monotonic() - self.began
        head = Text.assemble(("grading ", "bold"), f"{self.done}/{self.total} done · ",
                             (f"{self.failures} failed", "red" if self.failures else ""),
                             f" · ETA {duration(self.eta_s())} · {duration(elapsed)} elapsed")
        lines = [head]
        for student, (since, line) in sorted(self.activity.items()):
            lines.append(Text.assemble("  ", (student, "cyan"), f" ({duration(time.monotonic() - since)}) ",
                                       (line, "dim"), no_wrap=True, overflow="ellipsis"))
        return Group(*lines)

    def _say(self, text: str) -> None:
        if self._live is not None:
            self._console.print(text)
            return
        self.stream.write(f"[{time.monotonic() - self.began:7.1f}s] {text}\n")
        self.stream.flush()
