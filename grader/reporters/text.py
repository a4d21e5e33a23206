"""Terminal report: a table per task, then what to fix for every failed check, then the score."""

from __future__ import annotations

import io

from rich import box
from rich.console import Console, Group
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from grader.reporters.explain import (
    STATUS_WORD,
    Explanation,
    explain_all,
    hidden_note,
    points,
    score_line,
    visible_checks,
)
from grader.results import ERROR, PASSED, CheckResult, GradeReport

WIDTH = 100
STATUS_STYLE = {PASSED: "green", ERROR: "bold magenta"}


def _status(check: CheckResult) -> Text:
    return Text(STATUS_WORD.get(check.status, check.status), style=STATUS_STYLE.get(check.status, "bold red"))


def _task_table(task, checks, explained: dict[str, Explanation]) -> Table:
    score, total = points(sum(c.score for c in checks)), points(sum(c.max_score for c in checks))
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=True,
                  title=Text(f"Task {task.id}: {task.title}  [{score}/{total}]", style="bold"),
                  title_justify="left")
    table.add_column("Check", no_wrap=True)
    table.add_column("Points", justify="right", no_wrap=True)
    table.add_column("Status", no_wrap=True)
    table.add_column("Why", ratio=1)
    for check in checks:
        why = check.message if check.passed else explained[check.id].rows[0][1]
        table.add_row(check.id, f"{points(check.score)}/{points(check.max_score)}", _status(check), Text(why))
    return table


def _failure(check: CheckResult, explanation: Explanation, width: int) -> Group:
    head = Text.assemble((f"{STATUS_WORD[check.status]} ", STATUS_STYLE.get(check.status, "bold red")),
                         (f"{check.id} — {check.title}", "bold"),
                         f"  ({points(check.score)}/{points(check.max_score)} points)")
    parts = [head, Text(explanation.as_text(indent="  ", width=width, details=False))]
    if explanation.details:  # padded, so wrapped log lines stay indented under "Details:"
        parts += [Text("  Details:"), Padding(Text(explanation.details, overflow="fold"), (0, 0, 0, 6))]
    return Group(*parts, Text(""))


def renderables(report: GradeReport, *, width: int = WIDTH) -> list:
    """The report as rich renderables (the CLI prints these with colour on a terminal)."""
    parts: list = []
    for error in report.blocking_errors:  # no box around it: commands in it stay easy to copy
        parts += [Text(f"PROBLEM: {error}", style="bold red"), Text("")]
    for note in report.notes:  # cost no points (a fallback, a cleanup): not a problem with the work
        parts += [Text(f"NOTE: {note}", style="yellow"), Text("")]
    by_task: dict[str, list] = {}
    tasks = {}
    for task, check in visible_checks(report):
        tasks[task.id] = task
        by_task.setdefault(task.id, []).append(check)
    shown = [c for checks in by_task.values() for c in checks]
    explained = explain_all(shown, errors=report.errors)
    for task_id, checks in by_task.items():
        parts.append(_task_table(tasks[task_id], checks, explained))
        parts.append(Text(""))
    failed = [c for c in shown if not c.passed]
    if failed:
        parts.append(Text("What to fix", style="bold underline"))
        parts.append(Text(""))
        parts += [_failure(c, explained[c.id], width) for c in failed]
    total = Text(score_line(report), style="bold green" if report.score == report.max_score else "bold")
    counts = _counts(report)
    parts.append(Text.assemble(total, f"   ({counts})"))
    note = hidden_note(report)
    if note:
        parts.append(Text(note, style="dim"))
    return parts


def _counts(report: GradeReport) -> str:
    checks = [c for _, c in visible_checks(report)]
    passed = sum(c.passed for c in checks)
    errors = sum(c.status == ERROR for c in checks)
    text = f"{passed} of {len(checks)} checks passed"
    if errors:
        text += f", {errors} grader error{'s' if errors > 1 else ''}"
    return text + f"; {report.mode} mode, {report.duration_s:g} s"


def render(report: GradeReport, *, color: bool = False, width: int = WIDTH) -> str:
    """The report as a string; plain (no escape codes) unless `color`."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=color, color_system="standard" if color else None,
                      markup=False, emoji=False, highlight=False, legacy_windows=False)
    for part in renderables(report, width=width):
        console.print(part)
    if color:
        return buffer.getvalue()
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"  # rich pads to width
