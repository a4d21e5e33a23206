"""Markdown for a GitHub job summary: a table per task, then details for every failed check.

    python -m grader --format markdown >> "$GITHUB_STEP_SUMMARY"
"""

from __future__ import annotations

from grader.reporters.explain import (
    STATUS_EMOJI,
    explain_all,
    hidden_note,
    points,
    score_line,
    visible_checks,
)
from grader.results import ERROR, PASSED, GradeReport


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _link(section: str, link_base: str | None) -> str:
    if not link_base:
        return f"`{section}`"
    return f"[{section}]({link_base.rstrip('/')}/{section})"


def _fence(text: str) -> str:
    fence = "```"
    while fence in text:  # a build log could itself contain a fence
        fence += "`"
    return f"{fence}text\n{text}\n{fence}"


def _task_emoji(checks) -> str:
    if any(c.status == ERROR for c in checks):
        return STATUS_EMOJI[ERROR]
    return STATUS_EMOJI[PASSED] if all(c.passed for c in checks) else "❌"


def render(report: GradeReport, *, link_base: str | None = None) -> str:
    """`link_base` (e.g. https://github.com/OWNER/REPO/blob/SHA) turns lab sections into links."""
    grouped: dict[str, tuple] = {}
    for task, check in visible_checks(report):
        grouped.setdefault(task.id, (task, []))[1].append(check)
    lines = [f"## Docker for MLOps grader — {score_line(report)}", ""]
    for error in report.blocking_errors:
        lines += [f"> [!WARNING]\n> {_cell(error)}", ""]
    for note in report.notes:
        lines += [f"> [!NOTE]\n> {_cell(note)}", ""]
    lines += ["| Task | Score | Status |", "| --- | ---: | :---: |"]
    for task, checks in grouped.values():
        score = points(sum(c.score for c in checks))
        total = points(sum(c.max_score for c in checks))
        lines.append(f"| {_cell(task.id + '. ' + task.title)} | {score}/{total} | {_task_emoji(checks)} |")
    lines.append("")
    shown = [c for _, checks in grouped.values() for c in checks]
    explained = explain_all(shown, errors=report.errors)
    failed = [c for c in shown if not c.passed]
    if failed:
        lines += ["### What to fix", ""]
    for check in failed:
        explanation = explained[check.id]
        summary = (f"{STATUS_EMOJI.get(check.status, '❌')} <code>{check.id}</code> {_cell(check.title)} "
                   f"({points(check.score)}/{points(check.max_score)})")
        lines += ["<details>", f"<summary>{summary}</summary>", ""]
        for label, text in explanation.rows:
            value = _link(text, link_base) if label == "Read" else _cell(text)
            lines.append(f"- **{label}:** {value}")
        if explanation.details:
            lines += ["", _fence(explanation.details)]
        lines += ["", "</details>", ""]
    note = hidden_note(report)
    if note:
        lines += [f"_{note}_", ""]
    return "\n".join(lines)
