"""The grading run: an ordered list of phases (static, build, up, inspect, late, teardown)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import platform
import shutil
import signal
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from grader import __version__, registry, resources
from grader.context import Context
from grader.errors import Inconclusive, ResourceError, WorkspaceError
from grader.options import Options
from grader.results import ERROR, FAILED, PASSED, CheckResult, GradeReport, Outcome, TaskResult
from grader.rubric import CheckSpec, Rubric, load
from grader.workspace import plant_markers, prepare

log = logging.getLogger(__name__)

# Resources started in the background when the engine phases begin (when a selected check needs
# them), slowest first, so the stack comes up while containers warm, the registry starts and the
# image is pushed (issue 13); the checks then find them ready. Anything else is made on first use.
PREFETCH = ("stack", "mlflow_container", "mlapp_container", "mlapp_api", "mlflow_api", "published",
            "mlflow_run", "registry")
# Resources started in the background when the late phase begins (when a selected check needs them):
# while its first checks stop, recreate and wait for MLflow, the CPU is mostly idle (25-60 % busy
# for some 15 s of a full grade, issue 13). Until a check needs one of them (ctx.unthrottled) they
# run narrower, so that they do not slow the restarts those checks wait for.
LATE_PREFETCH = ("container_tests",)
# ... and they start before the late phase, once these (the ones a selected check needs) are made or
# have failed: the standalone containers answer, the image is pushed and the stack is up (not
# before: CPU starvation while healthchecks decide, standalone or in the stack, costs correct
# submissions points), so what is left of the inspect phase is reading what is up.
EARLY_AFTER = ("mlapp_api", "mlflow_api", "published", "stack")
EARLY_POLL_S = 0.2
# Checks of these phases only read what they inspect, so they run side by side; "late" checks stop
# and recreate things and run one after the other.
CONCURRENT_PHASES = ("inspect",)
CHECK_WORKERS = 4
BUG_HINT = "This is a fault in the grader, not in your work: please report it with the JSON report attached."
INCONCLUSIVE_HINT = ("The grader could not decide this check in this run; it is not a fault in your work. "
                     "Grade again (on a less busy machine if this one was overloaded).")
WARNING = "warning: "   # report `errors` lines that cost nothing and do not stop grading


def out_of_time(ctx: Context) -> str:
    """The message of a check the time budget left no time for."""
    return f"Not checked: time budget of {ctx.options.time_budget:.0f} s ran out"


@contextmanager
def _sigterm_as_interrupt():
    """Turn SIGTERM into KeyboardInterrupt so teardown runs when CI cancels a job."""
    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: nothing to install
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _result(spec: CheckSpec, outcome: Outcome, *, rubric: Rubric, blame: str | None,
            seconds: float) -> CheckResult:
    if outcome.passed:
        score, status, hint = spec.points, PASSED, None
    else:
        score, status = round(spec.points * spec.share(outcome.partial, outcome.measure), 2), FAILED
        hint = spec.hint
        if blame and blame != spec.id:
            hint = f"Fix {blame} first: {rubric.check(blame).hint}"
    return CheckResult(
        id=spec.id, task_id=spec.task_id, title=spec.title, status=status, score=score,
        max_score=spec.points, message=outcome.message, expected=outcome.expected,
        found=outcome.found, hint=hint, section=spec.section, visibility=spec.visibility,
        details=outcome.details, duration_s=round(seconds, 2),
    )


def _resources(ctx: Context, impl: registry.CheckFn) -> dict:
    """The check's resources by parameter name: required ones raise, optional ones are None on failure."""
    made = {name: ctx.get(name) for name in impl.requires}
    for name in impl.optional:
        try:
            made[name] = ctx.get(name)
        except ResourceError:
            made[name] = None
    return made


def _error(spec: CheckSpec, exc: Exception, *, seconds: float, message: str | None = None,
           hint: str = BUG_HINT) -> CheckResult:
    """A grader bug inside one check, or no verdict (errors.Inconclusive): it scores 0 with status
    `error`; the run goes on."""
    return CheckResult(
        id=spec.id, task_id=spec.task_id, title=spec.title, status=ERROR, score=0.0,
        max_score=spec.points, message=message or f"grader error: {type(exc).__name__}: {exc}",
        expected=None, found=None, hint=hint, section=spec.section,
        visibility=spec.visibility, duration_s=round(seconds, 2),
    )


def run_check(ctx: Context, spec: CheckSpec, *, rubric: Rubric) -> CheckResult:
    """Run one check: make its resources, call it, and turn what happened into a CheckResult.

    Never raises for a fault of the check or the submission: a ResourceError fails the check
    ("Not checked: ..." unless it is the check the failure is blamed on); any other exception,
    also one raised while building the result (an unknown blame id), is a grader error.
    """
    impl = registry.get(spec.id)
    started = time.monotonic()
    blame = None
    if ctx.expired():
        return _result(spec, Outcome(False, out_of_time(ctx), expected="the grade to finish within its time budget",
                                     found=out_of_time(ctx).removeprefix("Not checked: ")),
                       rubric=rubric, blame=None, seconds=0.0)
    try:
        outcome = impl.call(ctx, _resources(ctx, impl))
    except ResourceError as exc:
        blame = exc.blame
        # The check this failure is blamed on reports it as its own finding; others were not run.
        outcome = Outcome(passed=False, message=exc.message if blame == spec.id else f"Not checked: {exc.message}",
                          expected=exc.expected or "what this check needs to be available",
                          found=exc.message, details=exc.details)
    except Inconclusive as exc:
        log.warning("check %s: no verdict in this run: %s", spec.id, exc.message)
        return _error(spec, exc, seconds=time.monotonic() - started, message=f"no verdict: {exc.message}",
                      hint=INCONCLUSIVE_HINT)
    except Exception as exc:  # a bug in a check must cost that check, not the whole run
        log.exception("check %s crashed", spec.id)
        return _error(spec, exc, seconds=time.monotonic() - started)
    if not outcome.passed and ctx.expired():  # its waits were cut short by the deadline
        outcome = Outcome(False, out_of_time(ctx), expected="the grade to finish within its time budget",
                          found=outcome.message, details=outcome.details)
        blame = None
    try:
        result = _result(spec, outcome, rubric=rubric, blame=blame, seconds=time.monotonic() - started)
    except Exception as exc:  # e.g. a blame id the rubric does not know
        log.exception("check %s: its result could not be built", spec.id)
        return _error(spec, exc, seconds=time.monotonic() - started)
    ctx.event("check", f"{spec.id} {'passed' if outcome.passed else 'failed'}")
    return result


def _needs(spec: CheckSpec) -> set[str]:
    """Every resource the check needs, with what those need in turn."""
    return resources.closure(registry.get(spec.id).resources)


def release_unneeded(ctx: Context, remaining) -> list[str]:
    """Release (Context.release) every releasable resource that no check of `remaining` (CheckSpecs
    still to run) will use, nor a view of it, nor anything those checks' unmade resources are made
    from; the names released. Issue 13: the standalone containers, the registry and the stack stop
    costing the machine their healthchecks, and their removal overlaps task 10 instead of adding to
    the teardown."""
    names = set().union(*(registry.get(s.id).resources for s in remaining))
    still = resources.needed(names, made=ctx.made)
    free = [name for name, provider in resources.all_providers().items()
            if provider.releasable and not resources.views(name) & still]
    return ctx.release(free)


def prefetch_after(ctx: Context, names, *, after) -> threading.Thread:
    """Prefetch `names` in a background thread once every resource of `after` is made or has failed
    (`ctx.made`; the thread never makes one itself), nothing when the run closes or runs out of time
    first; the thread."""
    def start() -> None:
        for name in after:
            while not ctx.made(name):
                if ctx.closing.wait(EARLY_POLL_S) or ctx.expired():
                    return
        if not (ctx.closing.is_set() or ctx.expired()):
            ctx.prefetch(names)
    thread = threading.Thread(target=start, name=f"grader-{ctx.run_id}-early", daemon=True)
    thread.start()
    return thread


def _phase(ctx: Context, name: str, specs, *, rubric: Rubric, results: dict) -> None:
    todo = [s for s in specs if registry.get(s.id).phase == name]
    if name in ("build", "late") and not ctx.expired():  # after the deadline nothing new starts
        needed = set().union(*(_needs(s) for s in specs))
        ctx.prefetch(r for r in (PREFETCH if name == "build" else LATE_PREFETCH) if r in needed)
        if name == "build" and (early := [r for r in LATE_PREFETCH if r in needed]):
            prefetch_after(ctx, early, after=[r for r in EARLY_AFTER if r in needed])
    if name == "late":
        ctx.late.set()
    if not todo:
        return
    ctx.event("phase", name)
    if name in CONCURRENT_PHASES and len(todo) > 1:
        with ThreadPoolExecutor(max_workers=CHECK_WORKERS, thread_name_prefix="grader-check") as pool:
            for result in pool.map(lambda spec: run_check(ctx, spec, rubric=rubric), todo):
                results[result.id] = result  # the report lists them in rubric order, however they finished
        return
    for index, spec in enumerate(todo):
        if name == "late":  # what the checks left do not need goes now, not at teardown
            release_unneeded(ctx, todo[index:])
        if _needs(spec) & set(LATE_PREFETCH):
            ctx.unthrottled.set()  # the checks that wait for restarts are done: background work may widen
        results[spec.id] = run_check(ctx, spec, rubric=rubric)
    if name == "late":
        ctx.unthrottled.set()


def _environment(ctx: Context, used_engine: bool) -> dict:
    env = {"python": platform.python_version(), "platform": platform.platform()}
    if used_engine:
        try:
            version = ctx.docker.version()
            env["docker_engine"] = version.get("Version")
            env["docker_api"] = version.get("ApiVersion")
        except Exception:  # informational only
            pass
    return env


def grade(*, options: Options, on_event=None, run_id: str | None = None) -> GradeReport:
    """Grade one submission and return the report; cleanup always runs.

    `run_id` (6-32 lowercase hex digits, the report schema's pattern) names the run's Docker
    resources and scratch directory; None draws a fresh one. A caller that must be able to clean
    up after killing the process (`python -m grader batch`) chooses it up front.
    """
    rubric = load()
    registry.load_all()
    specs = rubric.select(task_ids=options.task_ids or None, instructor=options.instructor)
    for spec in specs:
        registry.get(spec.id)  # fail fast if the rubric names a check no module implements
    run_id = run_id or uuid.uuid4().hex[:10]
    started_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    clock = time.monotonic()
    if options.time_budget is not None:  # every wait of the run ends by the deadline
        options = dataclasses.replace(options, deadline=clock + options.time_budget)
    scratch = Path(tempfile.mkdtemp(prefix=f"mlops-grader-{run_id}-", dir=options.workroot))
    ctx = Context(options=options, run_id=run_id, workdir=scratch / "submission", scratch=scratch,
                  on_event=on_event)
    ctx.event("run", f"run {run_id} (cleanup if killed: python -m grader cleanup --run {run_id})")
    results: dict[str, CheckResult] = {}
    errors: list[str] = []
    needed = {r for s in specs for r in registry.get(s.id).resources}
    try:
        with _sigterm_as_interrupt():
            try:
                prepare(submission=options.submission, dest=ctx.workdir, solution=options.solution,
                        on_skip=ctx.warn)
                plant_markers(ctx.workdir)
            except WorkspaceError as exc:
                errors.append(str(exc))
                specs_to_run = ()
            else:
                specs_to_run = specs
                if resources.needs_engine(needed):
                    try:
                        ctx.docker  # noqa: B018 - the property raises when no engine answers
                    except ResourceError as exc:
                        errors.append(exc.message)
            for phase in registry.PHASES:
                _phase(ctx, phase, specs_to_run, rubric=rubric, results=results)
    finally:
        ctx.event("phase", "teardown")
        errors += [f"cleanup: {p}" for p in ctx.close()]
        if not options.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    errors += [WARNING + w for w in ctx.warnings]
    if ctx.deadline is not None and any(r.message == out_of_time(ctx) for r in results.values()):
        errors.append(WARNING + f"the time budget of {options.time_budget:.0f} s ran out: the checks not "
                                "reached fail as not checked")
    for spec in specs:
        if spec.id not in results:  # the workspace could not be made
            results[spec.id] = _result(spec, Outcome(False, "Not checked: " + "; ".join(errors),
                                                     expected="a submission directory", found="; ".join(errors)),
                                       rubric=rubric, blame=None, seconds=0.0)
    tasks = []
    for task in rubric.tasks:
        checks = tuple(results[c.id] for c in task.checks if c.id in results)
        if checks:
            tasks.append(TaskResult(id=task.id, title=task.title, section=task.section, checks=checks))
    return GradeReport(
        run_id=run_id, submission=str(options.submission),
        mode="instructor" if options.instructor else "student", grader_version=__version__,
        started_at=started_at, duration_s=round(time.monotonic() - clock, 1), tasks=tuple(tasks),
        environment=_environment(ctx, resources.needs_engine(needed)), errors=tuple(errors),
    )
