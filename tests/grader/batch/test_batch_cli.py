"""grader.batch.cli: what every grading child of a batch is asked to do (pure)."""

from __future__ import annotations

from pathlib import Path

from grader import cli
from grader.batch.cli import batch_parser, child_grade_args
from grader.options import DEFAULT_TIME_BUDGET, Limits


def child_options(*batch_argv: str):
    args = child_grade_args(batch_parser().parse_args(["subs", "--out", "o", *batch_argv]))
    return args, cli.options_from_args(cli.grade_parser().parse_args(["sub", *args]), submission=Path("sub"))


def test_every_child_runs_with_the_default_limits():
    args, options = child_options()
    assert args == ["--limits"]
    assert options.limits == Limits.defaults() and options.time_budget == DEFAULT_TIME_BUDGET


def test_a_batch_passes_its_limits_on_or_turns_them_off():
    args, options = child_options("--limit-memory", "4g", "--time-budget", "900", "--keep-storage", "10g")
    assert (options.limits.memory, options.limits.pids, options.time_budget) == ("4g", Limits.defaults().pids, 900)
    assert options.keep_storage == "10g"
    args, options = child_options("--no-limits")
    assert args == ["--no-limits"] and options.limits == Limits() and options.time_budget is None
