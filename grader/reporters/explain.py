"""Shared wording for every reporter: points, status words and the explanation of a failed check."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from grader.results import ERROR, FAILED, PASSED, CheckResult, GradeReport
from grader.rubric import load

STATUS_WORD = {PASSED: "passed", FAILED: "FAILED", ERROR: "ERROR"}
STATUS_EMOJI = {PASSED: "✅", FAILED: "❌", ERROR: "⚠️"}
# Build logs can be long; every format keeps the tail, where the error is.
DETAILS_MAX_LINES = 40


def points(value: float) -> str:
    """3.0 -> "3", 1.5 -> "1.5": points read like the rubric writes them."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def score_line(report: GradeReport) -> str:
    return f"Score: {points(report.score)}/{points(report.max_score)}"


def clip(text: str | None, *, max_lines: int = DETAILS_MAX_LINES) -> str | None:
    """Keep the last `max_lines` lines of `text`, saying how many were left out."""
    if not text:
        return text
    lines = text.rstrip("\n").splitlines()
    if len(lines) <= max_lines:
        return "\n".join(lines)
    return "\n".join([f"... ({len(lines) - max_lines} earlier lines left out)"] + lines[-max_lines:])


def covered_by_errors(check: CheckResult, errors) -> bool:
    """True when the check only failed because of a run-wide problem (e.g. no engine) shown once."""
    errors = list(errors)
    return bool(check.found) and bool(errors) and (check.found in errors or check.found == "; ".join(errors))


@dataclass(frozen=True)
class Explanation:
    """The labelled lines that explain one check that did not pass."""

    rows: tuple[tuple[str, str], ...]   # (label, text), e.g. ("Expected", "a non-root user")
    details: str | None                 # evidence (build-log excerpt), clipped

    def as_text(self, *, indent: str = "  ", width: int | None = None, details: bool = True) -> str:
        """Aligned "Label: text" lines; with `width`, long texts wrap under their first line."""
        label_width = max((len(label) for label, _ in self.rows), default=0) + 1
        hang = indent + " " * (label_width + 1)
        lines = []
        for label, text in self.rows:
            body = []
            for paragraph in text.splitlines() or [""]:
                if width and len(hang) + len(paragraph) > width:
                    body += textwrap.wrap(paragraph, width=width - len(hang), break_on_hyphens=False) or [""]
                else:
                    body.append(paragraph)
            lines.append(f"{indent}{(label + ':').ljust(label_width)} {body[0]}")
            lines += [f"{hang}{more}" for more in body[1:]]
        if self.details and details:
            lines.append(f"{indent}Details:")
            lines += [f"{indent}    {line}" for line in self.details.splitlines()]
        return "\n".join(lines)


def explain(check: CheckResult, *, errors=(), same_as: str | None = None) -> Explanation:
    """What happened, what was expected and found, how to fix it, and where the lab explains it.

    `same_as` names an earlier check that was not checked for the same reason; its block already
    shows the evidence, so this one only points there.
    """
    covered = covered_by_errors(check, errors)
    if covered:
        rows = [("What happened", "Not checked: see the problem reported at the top.")]
    elif same_as:
        rows = [("What happened", f"Not checked, for the same reason as {same_as} (above).")]
    else:
        rows = [("What happened", check.message)]
        if check.expected:
            rows.append(("Expected", check.expected))
        if check.found and check.found not in check.message:
            rows.append(("Found", check.found))
    hint = check.hint
    if hint and same_as and hint.startswith("Fix ") and " first: " in hint:
        hint = hint.split(": ", 1)[0] + " (see above)."  # the first block spelled that hint out
    if hint:
        rows.append(("How to fix", hint))
    rows.append(("Read", check.section))
    details = None if covered or same_as else clip(check.details)
    return Explanation(rows=tuple(rows), details=details)


def explain_all(checks, *, errors=()) -> dict[str, Explanation]:
    """Explanations for every failed check; a cause shared by several is spelled out once."""
    first: dict[str, str] = {}
    out = {}
    for check in checks:
        if check.passed:
            continue
        same_as = None
        if check.message.startswith("Not checked") and check.found:
            same_as = first.setdefault(check.found, check.id)
            same_as = None if same_as == check.id else same_as
        out[check.id] = explain(check, errors=errors, same_as=same_as)
    return out


def failure_text(check: CheckResult, *, errors=()) -> str:
    """Plain-text block for one failed check (used by pytest, JUnit and Gradescope)."""
    head = f"{check.id} — {check.title} ({points(check.score)}/{points(check.max_score)} points)"
    return head + "\n" + explain(check, errors=errors).as_text()


def hidden_note(report: GradeReport) -> str | None:
    """In student mode: how many hidden checks (and points) the instructor's run adds."""
    if report.mode == "instructor":
        return None

    count, total_points = load().hidden({t.id for t in report.tasks})
    if not count:
        return None
    total = points(total_points)
    one = count == 1
    return (f"{count} hidden {'check' if one else 'checks'} ({total} point{'' if total == '1' else 's'}) "
            "in these tasks "
            f"{'runs' if one else 'run'} only when your instructor grades (python -m grader --instructor); "
            f"{'it is' if one else 'they are'} not in this score.")


def visible_checks(report: GradeReport):
    """Checks a report shows: hidden ones only in instructor mode (they only run then anyway)."""
    for task in report.tasks:
        for check in task.checks:
            if check.visibility != "hidden" or report.mode == "instructor":
                yield task, check
