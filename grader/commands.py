"""The CLI's helper commands: rubric, workspace, cleanup, release (doctor lives in grader.doctor;
batch, stats and gradebook in grader.batch.cli)."""

from __future__ import annotations

import argparse
import glob
import json
import logging
import re
import shutil
import sys
import tempfile
from pathlib import Path

from docker.errors import APIError, DockerException
from rich import box
from rich.console import Console
from rich.table import Table

from grader import doctor as doctor_module
from grader import release as release_module
from grader.batch import cli as batch_cli
from grader.constants import LABEL_GRADER, LABEL_RUN, RUN_ID_PATTERN
from grader.docker import engine, publish
from grader.docker.build import created_images, remove_unkept, trim_cache
from grader.edition import instructor_only
from grader.errors import EngineUnavailable, ReleaseError, WorkspaceError
from grader.reporters.explain import points
from grader.rubric import load
from grader.workspace import looks_like_submission, prepare

log = logging.getLogger(__name__)


def doctor(argv: list[str]) -> int:
    return doctor_module.main(argv)


def rubric(argv: list[str]) -> int:
    """Print every task and check with its points (hidden checks with --instructor)."""
    p = argparse.ArgumentParser(prog="python -m grader rubric", description=rubric.__doc__)
    p.add_argument("--instructor", action="store_true", help="include hidden checks")
    p.add_argument("--task", dest="tasks", action="append", default=[], metavar="ID")
    p.add_argument("--format", choices=("text", "json"), default="text")
    args = p.parse_args(argv)
    refusal = instructor_only("`rubric --instructor`") if args.instructor else None
    if refusal:
        print(f"error: {refusal}", file=sys.stderr)
        return 2
    spec = load()
    try:
        chosen = {c.id for c in spec.select(task_ids=args.tasks or None, instructor=args.instructor)}
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    tasks = [t for t in spec.tasks if not args.tasks or t.id in args.tasks]
    if args.format == "json":
        data = [{"id": t.id, "title": t.title, "section": t.section, "scored": t.scored,
                 "checks": [{"id": c.id, "title": c.title, "points": c.points, "visibility": c.visibility,
                             "section": c.section, "hint": c.hint, "evidence": list(c.evidence),
                             "partial": c.partial} for c in t.checks if c.id in chosen]}
                for t in tasks]
        print(json.dumps({"tasks": data, "max_score": sum(c.points for c in spec.checks if c.id in chosen)},
                         indent=2))
        return 0
    console = Console(width=100 if not sys.stdout.isatty() else None, markup=False, emoji=False, highlight=False)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False)
    table.add_column("Check", no_wrap=True)
    table.add_column("Points", justify="right")
    table.add_column("Title")
    for task in tasks:
        scored = "" if task.scored else " (not scored)"
        table.add_row(f"Task {task.id}", "", f"{task.title}{scored} — {task.section}", style="bold")
        for check in task.checks:
            if check.id in chosen:
                flag = " (hidden)" if check.visibility == "hidden" else ""
                table.add_row(check.id, points(check.points), check.title + flag)
    console.print(table)
    console.print(f"Total: {points(sum(c.points for c in spec.checks if c.id in chosen))} points")
    return 0


def workspace(argv: list[str]) -> int:
    """Write a scratch copy of a submission (with --solution: the reference) to --dest."""

    p = argparse.ArgumentParser(prog="python -m grader workspace", description=workspace.__doc__)
    p.add_argument("submission", nargs="?", default=".", metavar="SUBMISSION_DIR")
    p.add_argument("--solution", action="store_true", help="lay solutions/ over the copy")
    p.add_argument("--dest", type=Path, required=True, metavar="DIR", help="where to write the copy (replaced)")
    args = p.parse_args(argv)
    refusal = instructor_only("`workspace --solution`") if args.solution else None
    if refusal:
        print(f"error: {refusal}", file=sys.stderr)
        return 2
    source, dest = Path(args.submission).resolve(), args.dest.resolve()
    if dest == source or source.is_relative_to(dest):
        print(f"error: --dest {dest} would replace the submission itself", file=sys.stderr)
        return 2
    if dest.exists() and any(dest.iterdir()) and not looks_like_submission(dest):
        print(f"error: --dest {dest} exists and is not an earlier workspace; refusing to replace it",
              file=sys.stderr)
        return 2
    try:
        prepare(submission=source, dest=dest, solution=args.solution)
    except WorkspaceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. log files a container wrote into the old copy as another user
        print(f"error: could not write {dest}: {exc}. Stop what uses it (`make down`) and remove it.",
              file=sys.stderr)
        return 2
    print(dest)
    return 0


def grader_runs(cli) -> set[str]:
    """Run ids of every grader-labelled container, network, volume and image on the engine."""
    selector = {"label": f"{LABEL_GRADER}=1"}
    found: set[str] = set()
    for items in (cli.containers.list(all=True, filters=selector, ignore_removed=True),
                  cli.networks.list(filters=selector), cli.volumes.list(filters=selector),
                  engine.list_images(cli, filters=selector)):
        for item in items:
            labels = (item.attrs.get("Labels") or item.attrs.get("Config", {}).get("Labels") or {})
            if labels.get(LABEL_RUN):
                found.add(labels[LABEL_RUN])
    return found


def scratch_dirs(run_id: str | None, workroot: Path | None) -> list[Path]:
    """Scratch copies a run left behind (--keep, or a killed process)."""
    root = workroot or Path(tempfile.gettempdir())
    pattern = f"mlops-grader-{glob.escape(run_id)}-*" if run_id else "mlops-grader-*"
    return sorted(p for p in root.glob(pattern) if p.is_dir())


def empty_cache(cli) -> int:
    """Remove every cache tag (grader.docker.build), then untagged grader images no run holds, then the
    kept registry (grader.docker.publish) unless a grade is using it; the exit status (1 on a problem)."""
    removed = trim_cache(cli, keep_bytes=-1)
    problems = []
    for image in cli.api.images(filters={"label": f"{LABEL_GRADER}=1", "dangling": True}):
        if (image.get("Labels") or {}).get(LABEL_RUN):
            continue  # a run's own image: `cleanup --run` removes it
        try:
            cli.images.remove(image["Id"])
        except (APIError, DockerException) as exc:
            problems.append(f"image {image['Id'][:19]}: {exc}")
    print(f"removed {len(removed)} build cache entries and the untagged grader images no run holds")
    try:  # the kept registry caches pushed layers (grader.docker.publish): emptied with the build cache
        kept = publish.remove_kept_unused(cli)
    except (APIError, DockerException, OSError) as exc:
        problems.append(f"the kept registry {publish.KEPT_REGISTRY}: {exc}")
    else:
        if kept:
            print(f"removed the kept registry {publish.KEPT_REGISTRY} and the layers it held")
        elif kept is None:
            print(f"kept registry {publish.KEPT_REGISTRY}: a grade is using it, so it stays")
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _run_id(text: str) -> str:
    """argparse type of `cleanup --run`: a run id as `--run-id` takes it, never a glob pattern (`*`
    would remove other runs' scratch copies: newcomer's finding)."""
    if not re.fullmatch(RUN_ID_PATTERN, text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a run id (6-32 lowercase hex digits)")
    return text


def cleanup(argv: list[str]) -> int:
    """Remove everything a grading run created: containers, networks, volumes, images, scratch copies."""

    p = argparse.ArgumentParser(prog="python -m grader cleanup", description=cleanup.__doc__)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--run", dest="runs", action="append", metavar="ID", type=_run_id,
                       help="one run id, 6-32 lowercase hex digits (repeatable)")
    which.add_argument("--all", action="store_true",
                       help="every grader-labelled resource, including those of a run still in progress")
    which.add_argument("--cache", action="store_true",
                       help="empty the grader's build cache and its kept registry, and remove untagged grader images")
    p.add_argument("--workroot", type=Path, metavar="DIR", help="where the runs put scratch copies")
    args = p.parse_args(argv)
    try:
        cli = engine.client()
    except EngineUnavailable as exc:
        print(exc.message, file=sys.stderr)
        return 2
    if args.cache:
        return empty_cache(cli)
    runs = sorted(grader_runs(cli)) if args.all else args.runs
    problems: list[str] = []
    # Images a killed build made carry no label: their ids are written down in the scratch copy.
    made = [i for run_id in ([None] if args.all else runs) for path in scratch_dirs(run_id, args.workroot)
            for i in created_images(path)]
    for run_id in runs:
        problems += engine.sweep(cli, run_id=run_id)
        print(f"removed the resources labelled {LABEL_RUN}={run_id}")
    removed = remove_unkept(cli, made)
    if removed:
        print(f"removed {len(removed)} images of builds cut off mid-way")
    for run_id in ([None] if args.all else runs):
        for path in scratch_dirs(run_id, args.workroot):
            shutil.rmtree(path, ignore_errors=True)
            print(f"removed scratch copy {path}")
    if not runs:
        print("nothing labelled by the grader was found")
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if problems else 0


def batch(argv: list[str]) -> int:
    return batch_cli.batch(argv)


def stats(argv: list[str]) -> int:
    return batch_cli.stats(argv)


def gradebook(argv: list[str]) -> int:
    return batch_cli.gradebook(argv)


def release(argv: list[str]) -> int:
    """Write the student edition of this repository to --dest: no solutions/, no hidden checks,
    a student README and Makefile, notebooks without outputs, and a workflow that grades every push
    (what it leaves out and rewrites: release/manifest.yaml). It then searches every file of the
    edition for fingerprints of the reference and of the hidden checks, and writes nothing if it
    finds one."""

    p = argparse.ArgumentParser(prog="python -m grader release", description=release.__doc__)
    p.add_argument("--dest", type=Path, required=True, metavar="DIR",
                   help="where to write the edition: a new or empty folder, or an earlier edition (replaced)")
    p.add_argument("--fail-below-full", action="store_true",
                   help="the edition's workflow fails the job below full marks (default: only when it cannot grade)")
    args = p.parse_args(argv)
    refusal = instructor_only("`release`")
    if refusal:
        print(f"error: {refusal}", file=sys.stderr)
        return 2
    try:
        report = release_module.build(dest=args.dest, fail_below_full=args.fail_below_full)
    except ReleaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: could not write {args.dest}: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0
