"""`pytest grader`: one grading session, one test per rubric check (options: --task, --solution, ...)."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.edition import instructor_only
from grader.options import DEFAULT_TIME_BUDGET, Limits, Options, default_timeout_scale
from grader.reporters.explain import hidden_note, score_line
from grader.results import GradeReport
from grader.rubric import load
from grader.run import grade

REPORT_KEY = pytest.StashKey[GradeReport]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("grader", "Docker for MLOps grader (pytest grader)")
    group.addoption("--submission", default=None, metavar="DIR",
                    help="the repository to grade (default: the pytest root directory)")
    group.addoption("--solution", action="store_true", default=False,
                    help="grade the reference: lay solutions/ over the copy")
    group.addoption("--task", action="append", default=[], dest="grader_tasks", metavar="ID",
                    help="grade only this task (repeatable)")
    group.addoption("--instructor", action="store_true", default=False, help="also run hidden checks")
    group.addoption("--timeout-scale", type=float, default=default_timeout_scale(), dest="grader_timeout_scale", metavar="X",
                    help="multiply every grader timeout by X on a slow machine")


def selected(config: pytest.Config):
    """The rubric checks this session grades, in rubric order."""

    return load().select(task_ids=config.getoption("grader_tasks") or None,
                         instructor=config.getoption("instructor"))


def pytest_configure(config: pytest.Config) -> None:
    for flag, dest in (("--solution", "solution"), ("--instructor", "instructor")):
        refusal = instructor_only(f"`pytest grader {flag}`") if config.getoption(dest) else None
        if refusal:
            raise pytest.UsageError(refusal)
    try:
        selected(config)
    except KeyError as exc:  # an unknown --task id is a usage error, not a failing test
        raise pytest.UsageError(exc.args[0]) from None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "check_id" in metafunc.fixturenames:
        ids = [spec.id for spec in selected(metafunc.config)]
        metafunc.parametrize("check_id", ids, ids=ids)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config):
    """Grade only when asked by name (`pytest grader`), never as part of `pytest .`."""
    if collection_path.name != "test_lab.py":
        return None
    here = Path(__file__).resolve().parent
    named = {(config.invocation_params.dir / arg.split("::")[0]).resolve() for arg in config.args}
    return None if named & {here, here / "test_lab.py"} else True


def _submission(config: pytest.Config) -> Path:
    given = config.getoption("submission")
    return Path(given).resolve() if given else config.rootpath


@pytest.fixture(scope="session")
def grade_report(request: pytest.FixtureRequest) -> GradeReport:
    """Grade once for the whole session: only the tasks of the tests left after -k / deselection."""

    config = request.config
    wanted = {item.callspec.params["check_id"] for item in request.session.items
              if hasattr(item, "callspec") and "check_id" in item.callspec.params}
    tasks = tuple(sorted({check_id.split(".")[0] for check_id in wanted}, key=int))
    capture = config.pluginmanager.getplugin("capturemanager")
    terminal = config.pluginmanager.getplugin("terminalreporter")

    def on_event(kind: str, text: str) -> None:
        if terminal is None:
            return
        with capture.global_and_fixture_disabled():
            terminal.write_line(f"grader {kind}: {text}")

    instructor = config.getoption("instructor")
    options = Options(submission=_submission(config), solution=config.getoption("solution"),
                      task_ids=tasks, instructor=instructor,
                      timeout_scale=config.getoption("grader_timeout_scale"),
                      limits=Limits.defaults() if instructor else Limits(),  # as `python -m grader` does
                      time_budget=DEFAULT_TIME_BUDGET if instructor else None)
    if terminal is not None:
        with capture.global_and_fixture_disabled():
            terminal.write_line(f"\ngrading {options.submission} (tasks {', '.join(tasks) or 'none'})...")
    report = grade(options=options, on_event=on_event)
    config.stash[REPORT_KEY] = report
    return report


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    report = config.stash.get(REPORT_KEY, None)
    if report is None:
        return

    terminalreporter.section("grader")
    for error in report.errors:
        terminalreporter.write_line(f"problem: {error}", red=True, bold=True)
    terminalreporter.write_line(score_line(report), bold=True)
    note = hidden_note(report)
    if note:
        terminalreporter.write_line(note)
