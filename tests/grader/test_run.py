"""grader.run: a time budget that runs out still gives a report (no engine needed: static checks)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from grader.cli import EXIT_PARTIAL, exit_code
from grader.options import Options
from grader.run import grade

REPO = Path(__file__).resolve().parents[2]


def test_a_spent_time_budget_fails_the_rest_as_not_checked(tmp_path):
    report = grade(options=Options(submission=REPO, solution=True, task_ids=("6",), time_budget=0.0,
                                   workroot=tmp_path))
    assert report.checks and all(c.status == "failed" for c in report.checks)
    assert {c.message for c in report.checks} == {"Not checked: time budget of 0 s ran out"}
    assert all(c.hint for c in report.checks)
    assert report.errors == ("warning: the time budget of 0 s ran out: the checks not reached fail as not checked",)
    assert exit_code(report) == EXIT_PARTIAL  # graded (below full marks), not "could not grade"
    assert not list(tmp_path.iterdir())


def test_a_budget_large_enough_changes_nothing(tmp_path):
    report = grade(options=Options(submission=REPO, solution=True, task_ids=("6",), time_budget=600,
                                   workroot=tmp_path))
    assert report.score == report.max_score and not report.errors


def test_no_verdict_scores_zero_as_an_error_with_a_regrade_hint():
    from grader.errors import Inconclusive
    from grader.rubric import load
    from grader.run import INCONCLUSIVE_HINT, _error

    spec = load().check("2.builds")
    result = _error(spec, Inconclusive("probe timed out"), seconds=1.0, message="no verdict: probe timed out",
                    hint=INCONCLUSIVE_HINT)
    assert (result.status, result.score, result.message) == ("error", 0.0, "no verdict: probe timed out")
    assert "not a fault in your work" in result.hint


class _RecordingContext:
    """Only what grader.run._phase touches: prefetch(), expired(), event(), made(), release() and the
    unthrottled event (pure logic)."""

    def __init__(self, made=()):
        import threading

        self.prefetched: list[str] = []
        self.unthrottled = threading.Event()
        self.late = threading.Event()
        self.spent = False
        self.made_already = set(made)
        self.released: list[str] = []

    def expired(self):
        return self.spent

    def prefetch(self, names):
        self.prefetched += list(names)

    def made(self, name):
        return name in self.made_already

    def release(self, names):
        chosen = sorted(set(names) & self.made_already - set(self.released))
        self.released += chosen
        return chosen

    def event(self, kind, text):
        pass


def test_the_late_phase_starts_the_container_tests_early_and_widens_them_when_task_10_is_reached(monkeypatch):
    import grader.run as run
    from grader import registry
    from grader.rubric import load

    rubric = load()
    registry.load_all()
    specs = rubric.select(task_ids=("7", "8", "10"), instructor=True)
    ctx, seen = _RecordingContext(), []
    def record(ctx, spec, rubric):
        seen.append((spec.id, ctx.unthrottled.is_set()))
        return SimpleNamespace(id=spec.id)

    monkeypatch.setattr(run, "run_check", record)
    run._phase(ctx, "inspect", specs, rubric=rubric, results={})
    assert ctx.prefetched == [] and not ctx.unthrottled.is_set() and not ctx.late.is_set()
    run._phase(ctx, "late", specs, rubric=rubric, results={})
    assert ctx.prefetched == ["container_tests"] and ctx.late.is_set()
    late = [(check_id, wide) for check_id, wide in seen if registry.get(check_id).phase == "late"]
    assert late[0] == ("7.stack-healthy", False)
    assert ("7.persists", False) in late and ("7.survives-outage", False) in late
    assert all(wide for check_id, wide in late if check_id.startswith("10."))
    task_10 = [c for c, _ in late if c.startswith("10.")]
    assert task_10 and [c for c, _ in late][-len(task_10):] == task_10  # task 10 comes last
    assert ctx.unthrottled.is_set()


def test_without_task_10_the_late_phase_starts_nothing_in_the_background(monkeypatch):
    import grader.run as run
    from grader import registry
    from grader.rubric import load

    rubric = load()
    registry.load_all()
    ctx = _RecordingContext()
    monkeypatch.setattr(run, "run_check", lambda ctx, spec, rubric: SimpleNamespace(id=spec.id))
    run._phase(ctx, "late", rubric.select(task_ids=("7",), instructor=True), rubric=rubric, results={})
    assert ctx.prefetched == [] and ctx.unthrottled.is_set()


def test_after_the_deadline_the_late_phase_starts_nothing_in_the_background(monkeypatch):
    import grader.run as run
    from grader import registry
    from grader.rubric import load

    rubric = load()
    registry.load_all()
    ctx = _RecordingContext()
    ctx.spent = True
    monkeypatch.setattr(run, "run_check", lambda ctx, spec, rubric: SimpleNamespace(id=spec.id))
    run._phase(ctx, "late", rubric.select(task_ids=("10",), instructor=True), rubric=rubric, results={})
    assert ctx.prefetched == []


def test_the_late_phase_releases_what_no_check_left_needs(monkeypatch):
    """The standalone containers and the registry go before the first late check (their checks are
    done, and task 10 needs only the API's port); the stack goes once the checks that stop and
    recreate it are done; the images task 10 builds on stay (issue 13)."""
    import grader.run as run
    from grader import registry, resources
    from grader.rubric import load

    rubric = load()
    registry.load_all()
    specs = rubric.select(task_ids=None, instructor=True)
    made = set(resources.all_providers()) - {"container_tests"}   # task 10 is still running
    ctx, order = _RecordingContext(made=made), []

    def record(ctx, spec, rubric):
        order.append((spec.id, tuple(ctx.released)))
        return SimpleNamespace(id=spec.id)

    monkeypatch.setattr(run, "run_check", record)
    run._phase(ctx, "late", specs, rubric=rubric, results={})
    released_before = dict(order)
    assert released_before["7.stack-healthy"] == ("mlapp_container", "mlflow_container", "registry")
    assert "stack" not in released_before["7.survives-outage"]
    assert released_before["8.push-pull"][-1] == "stack"
    assert set(ctx.released) == {"mlapp_container", "mlflow_container", "registry", "stack"}


def test_a_resource_is_kept_while_an_unmade_one_needs_it(monkeypatch):
    """A push not yet done (published unmade) keeps the registry; a port not yet read keeps the API."""
    import grader.run as run
    from grader import registry, resources
    from grader.rubric import load

    rubric = load()
    registry.load_all()
    specs = [s for s in rubric.select(task_ids=("8", "10"), instructor=True) if registry.get(s.id).phase == "late"]
    made = set(resources.all_providers()) - {"container_tests", "published", "mlapp_port"}
    ctx = _RecordingContext(made=made)
    assert run.release_unneeded(ctx, specs) == ["mlflow_container", "stack"]


def test_task_10_starts_once_the_standalone_work_is_done_and_never_after_closing():
    """prefetch_after waits for what it is told to (made or failed), then prefetches; a run that closes
    first starts nothing (pure logic, with a stand-in context)."""
    import threading

    import grader.run as run

    class Ctx:
        run_id = "test"

        def __init__(self):
            self.closing = threading.Event()
            self.ready = {"mlapp_api": threading.Event(), "published": threading.Event()}  # made, or failed
            self.prefetched = []

        def expired(self):
            return False

        def made(self, name):
            return self.ready[name].is_set()

        def prefetch(self, names):
            self.prefetched += list(names)

    ctx = Ctx()
    thread = run.prefetch_after(ctx, ["container_tests"], after=["mlapp_api", "published"])
    ctx.ready["mlapp_api"].set()
    thread.join(0.3)
    assert thread.is_alive() and ctx.prefetched == []
    ctx.ready["published"].set()
    thread.join(5)
    assert ctx.prefetched == ["container_tests"]

    closed = Ctx()
    closed.closing.set()
    run.prefetch_after(closed, ["container_tests"], after=["mlapp_api"]).join(5)
    assert closed.prefetched == []
