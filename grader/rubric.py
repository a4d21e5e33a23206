"""Load the rubric (tasks, checks, points, hints, lab links) from rubric.yaml.

A task may name a chaffs file (`chaffs: chaffs.yaml`, task 10) and one of hidden chaffs
(`hidden_chaffs: chaffs_hidden.yaml`): each planted fault in them becomes one more check of that
task, `<task>.catches-<chaff id>` (grader.chaffs), all or nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from grader import chaffs as chaff_data

log = logging.getLogger(__name__)
RUBRIC_PATH = Path(__file__).with_name("rubric.yaml")
VISIBILITIES = ("visible", "hidden")
# What a check reads to decide (issue 9): the student's files, a built image, a standalone container
# of an image, the compose stack, or the grader's local registry. The first is the main evidence.
EVIDENCE = ("files", "image", "container", "stack", "registry")
PROPORTIONAL = "proportional"      # a partial-credit rule: the share is what the check measured
PER_FINDING = "per-finding"        # {per-finding: c}: the share is 1 - c x findings, at least 0


@dataclass(frozen=True)
class CheckSpec:
    """One rubric check. `partial` maps what the check found to the share of the points it keeps
    (a number in [0, 1], "proportional", or {"per-finding": cost}); anything else scores 0."""

    id: str
    task_id: str
    title: str
    points: float
    hint: str
    section: str
    visibility: str = "visible"
    evidence: tuple[str, ...] = ()
    partial: dict = field(default_factory=dict)

    def share(self, partial: str | None, measure: float | None = None) -> float:
        """The share of the points a failed outcome keeps, by the rubric's partial-credit rule.

        KeyError when the check names a situation its rubric entry has no rule for (a grader bug).
        """
        if partial is None:
            return 0.0
        if partial not in self.partial:
            raise KeyError(f"check {self.id}: no partial-credit rule {partial!r} in the rubric")
        rule = self.partial[partial]
        if rule == PROPORTIONAL:
            value = measure or 0.0
        elif isinstance(rule, dict):
            value = 1 - float(rule[PER_FINDING]) * (measure or 0.0)
        else:
            value = float(rule)
        return min(max(value, 0.0), 1.0)


@dataclass(frozen=True)
class TaskSpec:
    id: str
    title: str
    section: str
    scored: bool = True
    summary: str = ""
    checks: tuple[CheckSpec, ...] = field(default_factory=tuple)
    # A student edition's rubric has no hidden checks, only how many there are (`hidden:` of a
    # task, written by `python -m grader release`), so reports can still say what grading adds.
    hidden_checks: int = 0
    hidden_points: float = 0.0
    chaffs: tuple[chaff_data.Chaff, ...] = ()   # the planted faults behind its catches-* checks


@dataclass(frozen=True)
class Rubric:
    tasks: tuple[TaskSpec, ...]

    def task(self, task_id: str) -> TaskSpec:
        for task in self.tasks:
            if task.id == task_id:
                return task
        raise KeyError(f"no task {task_id!r} in the rubric (known: {', '.join(self.task_ids)})")

    @property
    def task_ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.tasks)

    @property
    def checks(self) -> tuple[CheckSpec, ...]:
        return tuple(c for t in self.tasks for c in t.checks)

    def check(self, check_id: str) -> CheckSpec:
        for spec in self.checks:
            if spec.id == check_id:
                return spec
        raise KeyError(f"no check {check_id!r} in the rubric")

    def select(self, *, task_ids=None, instructor: bool = False) -> tuple[CheckSpec, ...]:
        """Checks to run, in rubric order: the chosen tasks, hidden ones only for instructors."""
        wanted = set(task_ids) if task_ids else None
        if wanted:
            unknown = wanted - set(self.task_ids)
            if unknown:
                raise KeyError(f"unknown task id(s) {sorted(unknown)}; known: {', '.join(self.task_ids)}")
        return tuple(
            c for c in self.checks
            if (wanted is None or c.task_id in wanted) and (instructor or c.visibility == "visible")
        )

    def max_points(self, *, instructor: bool = False) -> float:
        return sum(c.points for c in self.select(instructor=instructor))

    def hidden(self, task_ids=None) -> tuple[int, float]:
        """(number, points) of the hidden checks in these tasks (all tasks when None).

        Counts hidden check entries (instructor edition) and the `hidden:` summaries a student
        edition's rubric carries instead of them.
        """
        tasks = [t for t in self.tasks if task_ids is None or t.id in task_ids]
        entries = [c for t in tasks for c in t.checks if c.visibility == "hidden"]
        return (len(entries) + sum(t.hidden_checks for t in tasks),
                sum(c.points for c in entries) + sum(t.hidden_points for t in tasks))


# What a planted fault's check reads: the student's tests run against containers of images.
CHAFF_EVIDENCE = ("container",)


def _chaff_checks(task_id: str, chaffs) -> list[CheckSpec]:
    """One check per planted fault, `<task>.catches-<id>`: caught or not, no partial credit."""
    return [CheckSpec(id=c.check_id(task_id), task_id=task_id, title=f"Your tests catch it: {c.title}",
                      points=c.points, hint=c.hint, section=c.section, visibility=c.visibility,
                      evidence=CHAFF_EVIDENCE)
            for c in chaffs]


def _task_chaffs(task_id: str, raw: dict, base: Path) -> tuple:
    """A task's planted faults: `chaffs:` (visible ones) then `hidden_chaffs:` (hidden ones, a file
    of their own that the student edition leaves out), both relative to the rubric."""
    found = []
    for key, visibility in (("chaffs", "visible"), ("hidden_chaffs", "hidden")):
        if not raw.get(key):
            continue
        loaded = chaff_data.load(base / raw[key])
        wrong = [c.id for c in loaded if c.visibility != visibility]
        if wrong:
            raise ValueError(f"task {task_id}: `{key}` ({raw[key]}) may hold only {visibility} chaffs, "
                             f"not {', '.join(wrong)}")
        found += loaded
    ids = [c.id for c in found]
    if len(set(ids)) != len(ids):
        raise ValueError(f"task {task_id}: a chaff id is in both `chaffs` and `hidden_chaffs`")
    return tuple(found)


def _parse(data: dict, *, base: Path = RUBRIC_PATH.parent) -> Rubric:
    tasks = []
    for raw in data["tasks"]:
        task_id = str(raw["id"])
        checks = []
        for c in raw.get("checks", []):
            visibility = c.get("visibility", "visible")
            if visibility not in VISIBILITIES:
                raise ValueError(f"check {c['id']}: visibility must be one of {VISIBILITIES}")
            evidence = tuple(c.get("evidence") or ())
            if not evidence or set(evidence) - set(EVIDENCE):
                raise ValueError(f"check {c['id']}: evidence must be a list drawn from {EVIDENCE}")
            partial = dict(c.get("partial") or {})
            for key, rule in partial.items():
                valid = (rule == PROPORTIONAL or (isinstance(rule, (int, float)) and 0 <= rule < 1)
                         or (isinstance(rule, dict) and set(rule) == {PER_FINDING}))
                if not valid:
                    raise ValueError(f"check {c['id']}: partial rule {key!r} must be a share in [0, 1), "
                                     f"{PROPORTIONAL!r} or {{{PER_FINDING}: cost}}")
            checks.append(CheckSpec(
                id=c["id"], task_id=task_id, title=c["title"], points=float(c["points"]),
                hint=" ".join(c["hint"].split()), section=c["section"], visibility=visibility,
                evidence=evidence, partial=partial,
            ))
        chaffs = _task_chaffs(task_id, raw, base)
        checks += _chaff_checks(task_id, chaffs)
        hidden = raw.get("hidden") or {}
        if not isinstance(hidden, dict) or set(hidden) - {"checks", "points"}:
            raise ValueError(f"task {task_id}: `hidden` must be a mapping with `checks` and `points`")
        tasks.append(TaskSpec(
            id=task_id, title=raw["title"], section=raw["section"], scored=raw.get("scored", True),
            summary=" ".join(raw.get("summary", "").split()), checks=tuple(checks), chaffs=chaffs,
            hidden_checks=int(hidden.get("checks", 0)), hidden_points=float(hidden.get("points", 0)),
        ))
    return Rubric(tasks=tuple(tasks))


@lru_cache(maxsize=4)
def load(path: Path = RUBRIC_PATH) -> Rubric:
    """The rubric in `path` with the chaffs files it names (relative to it); ValueError, OSError."""
    with open(path, encoding="utf-8") as fh:
        return _parse(yaml.safe_load(fh), base=path.parent)
