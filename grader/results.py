"""Result dataclasses: what a check found, per task and for the whole grading run."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields

SCHEMA_VERSION = "1.0"
PASSED, FAILED, ERROR = "passed", "failed", "error"
# Lines of GradeReport.errors that are notes, not reasons the run could not grade.
NOTE_PREFIXES = ("cleanup:", "warning:")


@dataclass(frozen=True)
class Outcome:
    """What a check function returns: passed or not, and the evidence."""

    passed: bool
    message: str
    expected: str | None = None
    found: str | None = None
    details: str | None = None      # e.g. an excerpt of a build log
    partial: str | None = None      # the rubric's partial-credit situation this failure is, if any
    measure: float | None = None    # what a proportional / per-finding rule applies to


def ok(message: str, *, details: str | None = None) -> Outcome:
    return Outcome(passed=True, message=message, details=details)


def fail(message: str, *, expected: str, found: str, details: str | None = None,
         partial: str | None = None, measure: float | None = None) -> Outcome:
    """A failed check. `partial` names a situation the rubric gives partial credit for (its share
    comes from grader/rubric.yaml, never from code); `measure` is the share or count it applies to."""
    return Outcome(passed=False, message=message, expected=expected, found=found,
                   details=details, partial=partial, measure=measure)


# ANSI/VT100 escape sequences (CSI such as colours, OSC such as titles) and the C0 control
# characters XML 1.0 forbids (all but tab, newline and carriage return; ECMA-48 for the sequences).
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?")
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def plain_text(text: str) -> str:
    """`text` without terminal escape sequences and forbidden control characters; line ends as \\n."""
    text = _ESCAPES.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROLS.sub("", text)


@dataclass(frozen=True)
class CheckResult:
    """One check's result. Its texts are plain: terminal escape sequences (a build log's colours)
    and control characters other than tab and newline are removed on creation, since XML 1.0
    (the JUnit report) forbids them and no report shows them usefully."""

    id: str
    task_id: str
    title: str
    status: str          # passed | failed | error
    score: float
    max_score: float
    message: str
    expected: str | None
    found: str | None
    hint: str | None     # how to fix; None when passed
    section: str
    visibility: str
    details: str | None = None
    duration_s: float = 0.0

    def __post_init__(self):
        for name in ("message", "expected", "found", "hint", "details"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, plain_text(value))

    @property
    def passed(self) -> bool:
        return self.status == PASSED


@dataclass(frozen=True)
class TaskResult:
    id: str
    title: str
    section: str
    checks: tuple[CheckResult, ...]

    @property
    def score(self) -> float:
        return round(sum(c.score for c in self.checks), 2)

    @property
    def max_score(self) -> float:
        return sum(c.max_score for c in self.checks)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


@dataclass(frozen=True)
class GradeReport:
    run_id: str
    submission: str
    mode: str                     # student | instructor
    grader_version: str
    started_at: str               # ISO 8601, UTC
    duration_s: float
    tasks: tuple[TaskResult, ...]
    environment: dict = field(default_factory=dict)
    errors: tuple[str, ...] = ()  # problems outside any one check (e.g. no engine)
    schema_version: str = SCHEMA_VERSION

    @property
    def score(self) -> float:
        return round(sum(t.score for t in self.tasks), 2)

    @property
    def max_score(self) -> float:
        return sum(t.max_score for t in self.tasks)

    @property
    def checks(self) -> tuple[CheckResult, ...]:
        return tuple(c for t in self.tasks for c in t.checks)

    @property
    def blocking_errors(self) -> tuple[str, ...]:
        """`errors` without the notes (NOTE_PREFIXES: cleanup problems, student-mode warnings)."""
        return tuple(e for e in self.errors if not e.startswith(NOTE_PREFIXES))

    @property
    def notes(self) -> tuple[str, ...]:
        """The other lines of `errors`: notes that cost no points, each without its `warning:` prefix
        (a `cleanup:` note keeps its own, which says what it is about)."""
        notes = (e.removeprefix("warning:").strip() for e in self.errors if e.startswith(NOTE_PREFIXES))
        return tuple(n for n in notes if n and n != "cleanup:")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["score"], data["max_score"] = self.score, self.max_score
        for task, raw in zip(self.tasks, data["tasks"], strict=True):
            raw["score"], raw["max_score"] = task.score, task.max_score
        return data

    @classmethod
    def from_dict(cls, data: dict) -> GradeReport:
        """Rebuild a report from `to_dict()` output, e.g. a `--format json` file.

        `data` follows grader/schema/report-v1.json (docs/grader-report-schema.md); the computed
        `score`/`max_score` of the report and its tasks are recomputed from the checks, not read.
        Raises KeyError, TypeError or ValueError when `data` is not such a report (validate it
        with grader.reporters.json_report.validate first for a precise message).
        """
        names = {f.name for f in fields(CheckResult)}
        tasks = tuple(
            TaskResult(id=str(t["id"]), title=t["title"], section=t["section"],
                       checks=tuple(CheckResult(**{k: v for k, v in c.items() if k in names}) for c in t["checks"]))
            for t in data["tasks"]
        )
        return cls(run_id=data["run_id"], submission=data["submission"], mode=data["mode"],
                   grader_version=data["grader_version"], started_at=data["started_at"],
                   duration_s=float(data["duration_s"]), tasks=tasks,
                   environment=dict(data.get("environment") or {}), errors=tuple(data.get("errors") or ()),
                   schema_version=data.get("schema_version", SCHEMA_VERSION))
