"""Command line: `python -m grader [SUBMISSION]` grades; doctor, rubric, workspace, cleanup help around it."""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import signal
import sys
from contextlib import contextmanager
from pathlib import Path

from grader import __version__, commands, doctor, reporters
from grader.console import setup_logging
from grader.constants import LABEL_RUN, RUN_ID_PATTERN
from grader.edition import current as current_edition
from grader.edition import instructor_only
from grader.options import (
    DEFAULT_KEEP_STORAGE,
    DEFAULT_TIME_BUDGET,
    Limits,
    Options,
    default_timeout_scale,
    parse_registry,
    parse_size,
)
from grader.progress import Progress
from grader.results import ERROR, GradeReport
from grader.rubric import load
from grader.run import grade
from grader.workspace import looks_like_submission

log = logging.getLogger(__name__)

EXIT_FULL, EXIT_PARTIAL, EXIT_CANNOT_GRADE, EXIT_GRADER_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
COMMANDS = ("doctor", "rubric", "workspace", "cleanup", "batch", "stats", "gradebook", "release")
FORMATS = tuple(reporters.FORMATS)  # one table: grader.reporters

EPILOG = f"""\
commands (give one instead of SUBMISSION_DIR):
  doctor       check Docker, Compose v2, disk space, base images and hadolint, with a fix for each
  rubric       print the tasks, checks and points
  workspace    write a scratch copy of a submission (make demo: workspace --solution --dest .demo)
  cleanup      remove what killed grading runs left behind (--run ID, or --all)
  batch        grade a class: one entry per student (folder, .zip, .tar.gz) -> reports, gradebook, Canvas CSV
  stats        the class report of a batch's output: pass rates, failures to re-teach (Markdown, HTML)
  gradebook    merge the outputs of batch shards into one gradebook (gradebook merge DIR... --out DIR)
  release      write the student edition: no solutions/, no hidden checks (instructor edition only)
  Run `python -m grader COMMAND --help` for a command's options.

exit codes:
  {EXIT_FULL}    full marks
  {EXIT_PARTIAL}    graded, but not full marks
  {EXIT_CANNOT_GRADE}    could not grade: usage error, no Docker engine, not a submission directory
  {EXIT_GRADER_ERROR}    grader error: a check crashed (status "error"); please report it
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C / SIGTERM); everything the run created was removed
  When several apply, the highest of 3, 2, 1 wins.

formats: with --output or a --format other than text, the text report goes to stderr (CI logs) and
the chosen format to --output (or stdout). classroom prints one base64 line for GitHub Classroom's reporter:
  echo "result=$(python -m grader --format classroom)" >> "$GITHUB_OUTPUT"
--save FORMAT=FILE writes the same report in more formats (repeatable), e.g. in a workflow:
  python -m grader --save json=grader-results/report.json --save junit=grader-results/junit.xml \\
                   --save markdown=grader-results/summary.md
"""


def grade_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m grader", epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Grade a Docker for MLOps submission from real images, containers "
                                            "and logs, and say exactly what to fix.")
    p.add_argument("submission", nargs="?", default=".", metavar="SUBMISSION_DIR",
                   help="the repository to grade (default: the current directory)")
    only = " (instructor edition only)" if current_edition().student else ""
    p.add_argument("--solution", action="store_true",
                   help="grade the reference: lay solutions/ over the copy" + only)
    p.add_argument("--task", dest="tasks", action="append", default=[], metavar="ID",
                   help="grade only this task (repeatable), e.g. --task 2 --task 3")
    p.add_argument("--instructor", action="store_true", help="also run hidden checks" + only)
    p.add_argument("--reference-dockerfile", type=Path, metavar="FILE",
                   help="instructor mode: a correct Dockerfile.mlapp the container tests (task 10) must also "
                        "pass on (default: the kit's solutions/Dockerfile.mlapp)")
    p.add_argument("--format", choices=FORMATS, help="report format (default: from --output's extension, "
                   "any case: .json json, .xml junit, .md markdown; any other, or no --output: text)")
    p.add_argument("--output", type=Path, metavar="FILE", help="write the report here instead of stdout")
    p.add_argument("--save", action="append", default=[], type=save_spec, metavar="FORMAT=FILE",
                   help="also write the report in FORMAT to FILE (repeatable), e.g. --save json=report.json")
    p.add_argument("--keep", action="store_true", help="leave containers, images and the scratch copy for debugging")
    p.add_argument("--timeout-scale", type=float, default=default_timeout_scale(), metavar="X",
                   help="multiply every timeout by X on a slow machine (default: $GRADER_TIMEOUT_SCALE or 1)")
    p.add_argument("--workroot", type=Path, metavar="DIR", help="where scratch copies go (default: system temp)")
    p.add_argument("--no-cache", action="store_true", help="build without the layer cache (slow; cold-build figures)")
    defaults = Limits.defaults()
    limits = p.add_argument_group(
        "limits", f"On by default with --instructor and in batch (memory {defaults.memory} without swap, {defaults.cpus:g} CPU, "
                  f"{defaults.pids} processes per container, {defaults.build:.0f} s per build, "
                  f"{DEFAULT_TIME_BUDGET:.0f} s per submission); each option sets one in any mode.")
    limits.add_argument("--limit-memory", metavar="SIZE",
                        help=f"memory of every container the grader starts, no swap (e.g. 1g; default {defaults.memory})")
    limits.add_argument("--limit-cpus", type=float, metavar="N", help=f"CPUs of every container (default {defaults.cpus:g})")
    limits.add_argument("--limit-pids", type=int, metavar="N",
                        help=f"processes of every container (default {defaults.pids})")
    limits.add_argument("--limit-build", type=float, metavar="SECONDS",
                        help=f"seconds one image build may take (default {defaults.build:.0f})")
    limits.add_argument("--time-budget", type=float, metavar="SECONDS",
                        help=f"seconds the whole grade may take; checks not reached fail as not checked "
                             f"(default {DEFAULT_TIME_BUDGET:.0f})")
    limits.add_argument("--limits", action="store_true",
                        help="the default limits in student mode too (`python -m grader batch` sets it)")
    limits.add_argument("--no-limits", action="store_true", help="no default limits, also with --instructor")
    p.add_argument("--keep-storage", metavar="SIZE", default=DEFAULT_KEEP_STORAGE,
                   help="disk the grader's build cache may keep between runs, least recently used removed "
                        f"first (default {DEFAULT_KEEP_STORAGE})")
    p.add_argument("--registry", metavar="HOST:PORT",
                   help="push 8.push-pull's image to this running registry (under a folder named after the run) "
                        "instead of starting one; `grader batch` passes one to every grade, so layers the "
                        "submissions share are pushed once (localhost needs no engine setting)")
    p.add_argument("--run-id", metavar="HEX", help="use this run id (6-32 lowercase hex digits) instead of a fresh "
                   "one, so a supervisor can `cleanup --run HEX` after killing the run")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


# The format an --output file's extension implies when --format is not given (a newcomer's
# `--output report.json` must not get the text report in a .json file).
SUFFIX_FORMATS = {".json": "json", ".xml": "junit", ".md": "markdown"}


def report_format(fmt: str | None, output: Path | None) -> str:
    """The report format: `fmt` when given, else the one `output`'s extension implies
    (SUFFIX_FORMATS, case-insensitive), else text."""
    if fmt:
        return fmt
    return SUFFIX_FORMATS.get(output.suffix.lower(), "text") if output is not None else "text"


def unwritable(path: Path) -> str | None:
    """Why a report cannot be written at `path` (an existing folder, or a file where a parent
    folder must be), or None; checked before grading so no grade is lost to a typo."""
    if path.is_dir():
        return f"{path} is a folder: give a file name, e.g. {path / 'report.json'}"
    for parent in path.parents:
        if parent.exists():
            return None if parent.is_dir() else f"{parent} is a file, so {path} cannot be created"
    return None


def save_report(report: GradeReport, fmt: str, path: Path | None) -> bool:
    """Write the report in `fmt` to `path` (None: stdout) and say so on stderr; False, with an
    error line, when it cannot be written (the other reports are still saved)."""
    try:
        write_output(render_file(report, fmt), path)
    except OSError as exc:
        print(f"error: could not write the {fmt} report to {path}: {exc}", file=sys.stderr)
        return False
    if path is not None:
        print(f"{fmt} report written to {path}", file=sys.stderr)
    return True


def save_spec(text: str) -> tuple[str, Path]:
    """Parse a `--save FORMAT=FILE` value into (format, path).

    Raises argparse.ArgumentTypeError (argparse prints it as a usage error, exit 2) for a value
    without `=` or a format not in grader.reporters.FORMATS.
    """
    fmt, sep, path = text.partition("=")
    if not sep or not path:
        raise argparse.ArgumentTypeError(f"expected FORMAT=FILE, got {text!r}")
    if fmt not in FORMATS:
        raise argparse.ArgumentTypeError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return fmt, Path(path)


def exit_code(report: GradeReport) -> int:
    """Map a report to the documented exit codes (see EPILOG); `cleanup:` and `warning:` lines of
    `errors` do not change it."""
    if any(c.status == ERROR for c in report.checks):
        return EXIT_GRADER_ERROR
    if report.blocking_errors:
        return EXIT_CANNOT_GRADE
    return EXIT_FULL if report.score >= report.max_score else EXIT_PARTIAL


def link_base(env=os.environ) -> str | None:
    """In GitHub Actions, lab sections in the markdown summary link to the graded commit."""
    if all(env.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_SHA")):
        return f"{env['GITHUB_SERVER_URL']}/{env['GITHUB_REPOSITORY']}/blob/{env['GITHUB_SHA']}"
    return None


@contextmanager
def protected_teardown():
    """The first Ctrl-C interrupts grading; later ones must not cut the teardown short."""
    pressed = []

    def handler(signum, frame):
        pressed.append(signum)
        if len(pressed) == 1:
            raise KeyboardInterrupt
        sys.stderr.write("\nstill cleaning up, please wait...\n")

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def terminal(stream) -> dict:
    """Text-report options: colour and the real width on a terminal; plain, 100 columns otherwise."""
    if not stream.isatty():
        return {"color": False}
    return {"color": True, "width": max(60, shutil.get_terminal_size((100, 24)).columns)}


def render_file(report: GradeReport, fmt: str) -> str:
    """The report in `fmt` for a file or a pipe (no colour; markdown links to the commit in GitHub Actions)."""
    extra = {"link_base": link_base()} if fmt == "markdown" else {}
    return reporters.render(report, fmt, **extra)


def write_output(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")


def options_from_args(args, *, submission: Path):
    """The grading run's Options from parsed `grade` arguments: with --instructor or --limits (and
    without --no-limits) Limits.defaults() and DEFAULT_TIME_BUDGET, each overridden by its own option."""
    on = (args.instructor or args.limits) and not args.no_limits
    base = Limits.defaults() if on else Limits()
    limits = Limits(memory=args.limit_memory or base.memory,
                    cpus=args.limit_cpus if args.limit_cpus is not None else base.cpus,
                    pids=args.limit_pids if args.limit_pids is not None else base.pids,
                    build=args.limit_build if args.limit_build is not None else base.build)
    budget = args.time_budget if args.time_budget is not None else DEFAULT_TIME_BUDGET if on else None
    return Options(submission=submission, solution=args.solution, task_ids=tuple(args.tasks),
                   instructor=args.instructor, keep=args.keep, workroot=args.workroot,
                   reference_dockerfile=args.reference_dockerfile.resolve() if args.reference_dockerfile else None,
                   timeout_scale=args.timeout_scale, no_cache=args.no_cache, limits=limits,
                   time_budget=budget, keep_storage=args.keep_storage, registry=args.registry)


def option_problems(args) -> list[str]:
    """Usage errors in the limit options (sizes that are not sizes, non-positive numbers)."""
    problems = []
    for name, value in (("--limit-memory", args.limit_memory), ("--keep-storage", args.keep_storage)):
        if value is not None:
            try:
                parse_size(value)
            except ValueError as exc:
                problems.append(f"{name}: {exc}")
    for name, value in (("--limit-cpus", args.limit_cpus), ("--limit-pids", args.limit_pids),
                        ("--limit-build", args.limit_build), ("--time-budget", args.time_budget)):
        if value is not None and value <= 0:
            problems.append(f"{name} must be positive")
    return problems


def grade_command(argv: list[str]) -> int:
    parser = grade_parser()
    args = parser.parse_args(argv)
    # Imported after parsing so --help works even when a task module is broken.

    setup_logging(args.verbose)
    args.format = report_format(args.format, args.output)
    submission = Path(args.submission).resolve()
    if args.timeout_scale <= 0:
        parser.error("--timeout-scale must be positive")
    if args.reference_dockerfile and not args.reference_dockerfile.is_file():
        parser.error(f"--reference-dockerfile {args.reference_dockerfile}: no such file")
    if args.run_id is not None and not re.fullmatch(RUN_ID_PATTERN, args.run_id):
        parser.error("--run-id must be 6-32 lowercase hex digits")
    if args.registry is not None and parse_registry(args.registry) is None:
        parser.error(f"--registry {args.registry}: expected HOST:PORT, e.g. localhost:5000")
    for flag, asked in (("--solution", args.solution), ("--instructor", args.instructor)):
        refusal = instructor_only(f"`{flag}`") if asked else None
        if refusal:
            print(f"error: {refusal}", file=sys.stderr)
            return EXIT_CANNOT_GRADE
    for problem in option_problems(args):
        parser.error(problem)
    if args.output is not None and (why := unwritable(args.output)):
        parser.error(f"--output: {why}")  # before grading: no grade is lost to a typo
    if not submission.exists() or not submission.is_dir():
        what = "does not exist" if not submission.exists() else "is a file, not a folder"
        print(f"error: {submission} {what}: pass the folder of a submission (the repository root) as "
              "SUBMISSION_DIR, or run from inside it.", file=sys.stderr)
        return EXIT_CANNOT_GRADE
    if not looks_like_submission(submission):
        print(f"error: {submission} is not a lab submission (no starter/ directory and none of "
              "Dockerfile.mlapp, Dockerfile.mlflow, docker-compose.yml, .dockerignore). "
              "Run from the repository root or pass it as SUBMISSION_DIR.", file=sys.stderr)
        return EXIT_CANNOT_GRADE
    rubric = load()
    try:
        selected = rubric.select(task_ids=args.tasks or None, instructor=args.instructor)
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return EXIT_CANNOT_GRADE
    if not selected:
        print("Nothing to grade in task(s) " + ", ".join(args.tasks) + ": task 1 is the setup check.",
              file=sys.stderr)

        return doctor.main([])

    options = options_from_args(args, submission=submission)
    try:
        with protected_teardown(), Progress(verbose=args.verbose > 0) as progress:
            report = grade(options=options, on_event=progress, run_id=args.run_id)
    except KeyboardInterrupt:
        print("\ninterrupted, cleaned up", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # a grader bug outside any check: say so plainly (-v shows the traceback)
        log.debug("grading crashed", exc_info=True)
        print(f"grader error: {type(exc).__name__}: {exc}\nThis is a fault in the grader, not in your work; "
              "run with -vv and report the output.", file=sys.stderr)
        return EXIT_GRADER_ERROR
    unsaved = False
    if args.format == "text" and args.output is None:
        write_output(reporters.render(report, "text", **terminal(sys.stdout)), None)
    else:  # the terminal summary goes to stderr, the chosen format to --output or stdout
        sys.stderr.write(reporters.render(report, "text", **terminal(sys.stderr)))
        unsaved = not save_report(report, args.format, args.output)
    for fmt, path in args.save:
        unsaved = not save_report(report, fmt, path) or unsaved
    if args.keep:
        print(f"--keep: resources labelled {LABEL_RUN}={report.run_id} are still there; "
              f"remove them with: python -m grader cleanup --run {report.run_id}", file=sys.stderr)
    return max(exit_code(report), EXIT_CANNOT_GRADE) if unsaved else exit_code(report)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    for stream in (sys.stdout, sys.stderr):  # never crash on a terminal that cannot show ✔ or ─
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    if argv and argv[0] in COMMANDS:

        return getattr(commands, argv[0])(argv[1:])
    return grade_command(argv)
