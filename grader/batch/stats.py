"""The class report's numbers, from a batch's output: what to re-teach on Monday.

Per check: how many students' reports have it, how many passed, the pass rate, and the most
common failure messages with their counts. Per task: the mean score. For the class: the totals'
distribution (in buckets of 10 % of the maximum) and how many rows have each gradebook status.
Only students with a report count in check and task figures (graded and grader-error rows).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from grader.batch import records
from grader.results import PASSED, GradeReport
from grader.rubric import load

log = logging.getLogger(__name__)

TOP_FAILURES = 5
BUCKETS = 10


@dataclass
class CheckStats:
    """One check over the class: students with it in their report, passes, top failure messages."""

    id: str
    task_id: str
    title: str
    section: str
    max_score: float
    graded: int = 0
    passed: int = 0
    failures: list[tuple[str, int]] = field(default_factory=list)   # (message, students), most common first
    failed_students: list[str] = field(default_factory=list)

    @property
    def pass_rate(self) -> float | None:
        """Passed / graded, in [0, 1]; None when no report has this check."""
        return self.passed / self.graded if self.graded else None


@dataclass
class TaskStats:
    """One task over the class: the points (`scores`) of every student with a report."""

    id: str
    title: str
    max_score: float
    scores: list[float] = field(default_factory=list)

    @property
    def mean(self) -> float | None:
        """Mean points of the task over the students with a report; None when none has."""
        return sum(self.scores) / len(self.scores) if self.scores else None


@dataclass
class ClassStats:
    """Everything the class report shows (see the module docstring)."""

    students: int
    statuses: dict[str, int]                 # gradebook status -> rows
    totals: list[tuple[str, float, float]]   # (student, score, max) of every student with a report
    tasks: list[TaskStats]
    checks: list[CheckStats]

    @property
    def reported(self) -> int:
        """Students with a report (graded or grader-error)."""
        return len(self.totals)

    def distribution(self, buckets: int = BUCKETS) -> list[tuple[str, int]]:
        """[(label, students)]: totals as a percentage of their max, in `buckets` equal ranges.

        Labels read "0–9 %", ..., "90–100 %"; a total of exactly the max falls in the last one.
        """
        width = 100 / buckets
        counts = [0] * buckets
        for _, score, maximum in self.totals:
            percent = 100 * score / maximum if maximum else 0
            counts[min(buckets - 1, int(percent // width))] += 1
        labels = []
        for i in range(buckets):
            low, high = round(i * width), round((i + 1) * width)
            labels.append(f"{low}–{high} %" if i == buckets - 1 else f"{low}–{high - 1} %")
        return list(zip(labels, counts, strict=True))

    def mean_total(self) -> float | None:
        """Mean total in points over the students with a report; None when none has."""
        return sum(s for _, s, _ in self.totals) / len(self.totals) if self.totals else None


def _reports(out: Path):
    for record in records.load_all(out):
        path = records.report_path(out, record.student)
        report = None
        if record.status in (records.GRADED, records.GRADER_ERROR) and path.exists():
            try:
                report = GradeReport.from_dict(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("skipping unreadable %s: %s", path, exc)
        yield record, report


def compute(out: Path, *, top: int = TOP_FAILURES) -> ClassStats:
    """The statistics of the batch output directory `out` (records and reports under out/students).

    `top` is how many distinct failure messages to keep per check. Checks and tasks come in rubric
    order. A directory with no records gives empty statistics, not an error.
    """
    statuses: Counter = Counter()
    totals = []
    checks: dict[str, CheckStats] = {}
    tasks: dict[str, TaskStats] = {}
    messages: dict[str, Counter] = {}
    students = 0
    for record, report in _reports(out):
        students += 1
        statuses[record.status] += 1
        if report is None:
            continue
        totals.append((record.student, report.score, report.max_score))
        for task in report.tasks:
            tasks.setdefault(task.id, TaskStats(task.id, task.title, task.max_score)).scores.append(task.score)
            for check in task.checks:
                stats = checks.setdefault(check.id, CheckStats(check.id, check.task_id, check.title, check.section,
                                                               check.max_score))
                stats.graded += 1
                if check.status == PASSED:
                    stats.passed += 1
                else:
                    stats.failed_students.append(record.student)
                    messages.setdefault(check.id, Counter())[check.message] += 1
    for check_id, counter in messages.items():
        checks[check_id].failures = counter.most_common(top)

    order = {c.id: i for i, c in enumerate(load().checks)}
    task_order = {t.id: i for i, t in enumerate(load().tasks)}
    return ClassStats(
        students=students, statuses=dict(sorted(statuses.items())), totals=sorted(totals),
        tasks=sorted(tasks.values(), key=lambda t: task_order.get(t.id, len(task_order))),
        checks=sorted(checks.values(), key=lambda c: order.get(c.id, len(order))),
    )
