"""Thin command lines for `python -m grader batch`, `stats` and `gradebook` (logic in the other modules)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from contextlib import contextmanager
from pathlib import Path

from grader.batch import gradebook as book
from grader.batch import lms, records, shards, stats_page
from grader.batch.archives import Limits
from grader.batch.display import Display
from grader.batch.runner import BatchError, BatchOptions, run
from grader.batch.stats import compute
from grader.console import setup_logging

log = logging.getLogger(__name__)

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

BATCH_EPILOG = """\
SUBMISSIONS holds one entry per student: a folder, or a .zip / .tar.gz / .tgz archive; the
student id is the entry's name. Per student, OUT/students/<id>/ gets report.json, feedback.md,
junit.xml and grader.log (history/ keeps earlier grades); OUT gets gradebook.csv and canvas.csv.
A rerun grades only new or changed submissions (--force: all); after a crash or kill -9 it first
cleans up what the killed run left. Details: docs/grading-a-class.md

exit codes: 0 every submission graded, 1 some rows are not graded (see their status and reason),
2 could not start (usage, no Docker engine, OUT in use), 130 interrupted (finished grades are kept).
"""


def _mib(text: str) -> int:
    return int(float(text) * 2**20)


def batch_parser() -> argparse.ArgumentParser:
    """The argument parser of `python -m grader batch` (see BATCH_EPILOG and docs/grading-a-class.md)."""
    p = argparse.ArgumentParser(prog="python -m grader batch", epilog=BATCH_EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Grade a class: every submission in SUBMISSIONS, into OUT.")
    p.add_argument("submissions", type=Path, metavar="SUBMISSIONS")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="where reports and the gradebook go")
    p.add_argument("--jobs", type=int, default=1, metavar="N", help="submissions graded at once (default: 1)")
    p.add_argument("--task", dest="tasks", action="append", default=[], metavar="ID", help="only this task (repeatable)")
    p.add_argument("--instructor", action="store_true", help="also run hidden checks")
    p.add_argument("--force", action="store_true", help="regrade every submission, changed or not")
    p.add_argument("--shard", metavar="I/N", help="grade only shard I of N (deterministic by student id)")
    p.add_argument("--timeout", type=float, default=1800, metavar="SECONDS",
                   help="wall-clock limit per submission (default: 1800)")
    p.add_argument("--grace", type=float, default=120, metavar="SECONDS",
                   help="time a stopped grader gets to tear down before it is killed (default: 120)")
    p.add_argument("--max-unpacked-mb", type=_mib, default=512 * 2**20, metavar="MB",
                   help="largest unpacked archive (default: 512)")
    p.add_argument("--max-files", type=int, default=20_000, metavar="N", help="most members in an archive (default: 20000)")
    p.add_argument("--canvas-assignment", default=None, metavar="TITLE", help="assignment column title in canvas.csv")
    p.add_argument("--canvas-assignment-id", metavar="ID", help="Canvas assignment id (the column reads 'TITLE (ID)')")
    p.add_argument("--roster", type=Path, metavar="CSV", help="a Canvas gradebook export: names, ids and sections for canvas.csv")
    p.add_argument("--limit-memory", metavar="SIZE", help="passed to every grader: memory limit per container")
    p.add_argument("--limit-cpus", metavar="N", help="passed to every grader: CPU limit per container")
    p.add_argument("--limit-pids", metavar="N", help="passed to every grader: process limit per container")
    p.add_argument("--limit-build", metavar="SECONDS", help="passed to every grader: time limit of one build")
    p.add_argument("--time-budget", metavar="SECONDS",
                   help="passed to every grader: its time budget, which ends a grade with a report before "
                        "--timeout stops it (default 1500)")
    p.add_argument("--no-limits", action="store_true",
                   help="passed to every grader: no default limits (every grader runs with them otherwise)")
    p.add_argument("--keep-storage", metavar="SIZE", help="passed to every grader: the build cache's size cap")
    p.add_argument("--timeout-scale", metavar="X", help="passed to every grader: multiply its timeouts by X")
    p.add_argument("--live", choices=("auto", "yes", "no"), default="auto",
                   help="live progress panel (auto: on a terminal) or plain lines")
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def child_grade_args(args) -> list[str]:
    """The options every grading child gets from parsed batch arguments: the default limits
    (`--limits`) unless `--no-limits` (issue 14), and each limit or scale the batch was given."""
    grade_args: list[str] = ["--no-limits" if args.no_limits else "--limits"]
    for flag in ("limit_memory", "limit_cpus", "limit_pids", "limit_build", "time_budget", "keep_storage",
                 "timeout_scale"):
        if getattr(args, flag) is not None:
            grade_args += ["--" + flag.replace("_", "-"), str(getattr(args, flag))]
    return grade_args


@contextmanager
def _sigterm_as_interrupt():
    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def batch(argv: list[str]) -> int:
    """`python -m grader batch`: parse, check, run grader.batch.runner.run, summarise."""

    parser = batch_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    try:
        shard = shards.parse(args.shard) if args.shard else None
    except ValueError as exc:
        parser.error(str(exc))
    if args.roster:
        try:
            lms.read_roster(args.roster)
        except (OSError, lms.RosterError) as exc:
            print(f"error: --roster: {exc}", file=sys.stderr)
            return EXIT_USAGE
    grade_args = child_grade_args(args)
    options = BatchOptions(
        submissions=args.submissions, out=args.out, jobs=args.jobs, task_ids=tuple(args.tasks),
        instructor=args.instructor, force=args.force, shard=shard, timeout_s=args.timeout, grace_s=args.grace,
        grade_args=tuple(grade_args), archive_limits=Limits(max_bytes=args.max_unpacked_mb, max_files=args.max_files),
        canvas_assignment=args.canvas_assignment or lms.DEFAULT_ASSIGNMENT,
        canvas_assignment_id=args.canvas_assignment_id, roster=args.roster)
    live = {"auto": None, "yes": True, "no": False}[args.live]
    try:
        with _sigterm_as_interrupt(), Display(live=live) as display:
            result = run(options=options, display=display)
    except BatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    graded = ", ".join(f"{n} {s}" for s, n in sorted(result.graded_now.items())) or "nothing new"
    print(f"graded now: {graded}; unchanged and skipped: {result.skipped}", file=sys.stderr)
    for path in result.files:
        print(f"wrote {path}", file=sys.stderr)
    if result.interrupted:
        print("interrupted: finished grades are kept; run the same command again to grade the rest",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    if result.not_graded:
        print(f"{len(result.not_graded)} row(s) not graded (see status and reason in gradebook.csv): "
              + ", ".join(result.not_graded[:10]) + (" ..." if len(result.not_graded) > 10 else ""), file=sys.stderr)
        return EXIT_PROBLEMS
    return EXIT_OK


def stats(argv: list[str]) -> int:
    """`python -m grader stats DIR`: write DIR/stats.md and DIR/stats.html (or into --out)."""

    p = argparse.ArgumentParser(prog="python -m grader stats", description=
                                "The class report of a batch's output: pass rate per check, mean per task, "
                                "score distribution, most common failures (Markdown and one HTML page).")
    p.add_argument("directory", type=Path, metavar="DIR", help="the --out directory of `python -m grader batch`")
    p.add_argument("--out", type=Path, metavar="DIR", help="where stats.md and stats.html go (default: DIR)")
    args = p.parse_args(argv)
    if not (args.directory / "students").is_dir():
        print(f"error: {args.directory} has no students/ folder: give the --out directory of a batch",
              file=sys.stderr)
        return EXIT_USAGE
    result = compute(args.directory)
    out = args.out or args.directory
    records.atomic_write(out / "stats.md", stats_page.markdown(result))
    records.atomic_write(out / "stats.html", stats_page.page(result))
    print(f"wrote {out / 'stats.md'} and {out / 'stats.html'} ({result.students} students)", file=sys.stderr)
    return EXIT_OK


def gradebook(argv: list[str]) -> int:
    """`python -m grader gradebook merge DIR... --out DIR` / `gradebook write DIR`."""

    p = argparse.ArgumentParser(prog="python -m grader gradebook",
                                description="Merge batch shards into one gradebook, or rewrite a gradebook.")
    sub = p.add_subparsers(dest="action", required=True)
    merge = sub.add_parser("merge", help="merge the --out directories of shards into one")
    merge.add_argument("directories", type=Path, nargs="+", metavar="DIR")
    merge.add_argument("--out", type=Path, required=True, metavar="DIR")
    write = sub.add_parser("write", help="rewrite gradebook.csv and canvas.csv of a batch directory")
    write.add_argument("directory", type=Path, metavar="DIR")
    for q in (merge, write):
        q.add_argument("--canvas-assignment", metavar="TITLE")
        q.add_argument("--canvas-assignment-id", metavar="ID")
        q.add_argument("--roster", type=Path, metavar="CSV", help="a Canvas gradebook export")
    args = p.parse_args(argv)
    if args.action == "merge":
        missing = [str(d) for d in args.directories if not d.is_dir()]
        if missing:
            print(f"error: not a directory: {', '.join(missing)}", file=sys.stderr)
            return EXIT_USAGE
        try:
            result = shards.merge(list(args.directories), args.out)
        except shards.MergeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        for student in result.conflicts:
            print(f"warning: {student} is in more than one shard; kept the most recent grade", file=sys.stderr)
        target = args.out
    else:
        target = args.directory
        if not (target / "batch.json").exists():
            print(f"error: {target} is not a batch output (no batch.json)", file=sys.stderr)
            return EXIT_USAGE
    import json

    meta = json.loads((target / "batch.json").read_text(encoding="utf-8"))
    try:
        path = book.write(target, selected=meta.get("checks", ()))
        canvas, unmatched = lms.write(
            target, assignment=args.canvas_assignment or meta.get("canvas_assignment") or lms.DEFAULT_ASSIGNMENT,
            assignment_id=args.canvas_assignment_id or meta.get("canvas_assignment_id"), roster_path=args.roster)
    except (OSError, lms.RosterError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote {path} and {canvas} ({len(records.load_all(target))} students)", file=sys.stderr)
    return EXIT_OK
