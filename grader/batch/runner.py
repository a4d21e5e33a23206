"""Grade a class: one child process of the grader CLI per submission, up to `jobs` at once.

Each submission is graded by `python -m grader.batch.child SUB --format json --output ... --run-id
ID --workroot OUT/.work/ID` (the ordinary CLI, see grader.batch.child), which isolates crashes and
lets the batch enforce a wall-clock limit: SIGTERM first (the grader tears down), then, after a
grace period, SIGKILL of the child's process group and a sweep of its run id (`python -m grader
cleanup --run ID` semantics). The batch chooses every run id before starting the child and keeps it
in OUT/.work/ID/job.json, so a batch killed with `kill -9` leaves nothing that its next run does
not find and remove: that run waits for (or kills) the orphaned children, sweeps their run ids and
deletes their scratch folders before grading anything. Finished grades are committed atomically
(grader.batch.records), so the rerun grades only what had not finished.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from grader import __version__, registry, reporters, resources
from grader.batch import archives, gradebook, lms, records
from grader.batch.display import Display, duration
from grader.batch.records import COULD_NOT_GRADE, CRASHED, GRADED, GRADER_ERROR, TIMEOUT, Record
from grader.batch.shards import Shard
from grader.constants import LABEL_GRADER, LABEL_RUN, NAME_PREFIX
from grader.docker import build, engine, publish
from grader.errors import ResourceError
from grader.reporters import json_report
from grader.results import ERROR, GradeReport
from grader.rubric import RUBRIC_PATH, load

log = logging.getLogger(__name__)

POLL_S = 0.2
ELAPSED = re.compile(r"^\[\s*[\d.]+s\]\s*")   # the "[  12.3s] " prefix of the grader's plain progress
LOG_TAIL_BYTES = 4096
PACKAGE_ROOT = Path(__file__).resolve().parents[2]   # the directory that holds grader/
WORK = ".work"
REGISTRY_START_S = 60.0   # seconds the batch's registry may take to answer
# Storage the batch's registry may hold before grades stop using it (bytes): submissions share most
# layers, but one with a large layer of its own would otherwise stay on disk until the batch ends.
REGISTRY_KEEP_BYTES = 3_000_000_000


@dataclass(frozen=True)
class BatchOptions:
    """What `python -m grader batch` was asked to do.

    `timeout_s` is the wall-clock limit per submission in seconds; `grace_s` how long a child may
    take to tear down after SIGTERM before it is killed. `grade_args` go to every child unchanged
    (e.g. ("--limit-memory", "1g")); `archive_limits` bound unpacking (grader.batch.archives.Limits).
    """

    submissions: Path
    out: Path
    jobs: int = 1
    task_ids: tuple[str, ...] = ()
    instructor: bool = False
    force: bool = False
    shard: Shard | None = None
    timeout_s: float = 1800.0
    grace_s: float = 120.0
    grade_args: tuple[str, ...] = ()
    archive_limits: archives.Limits = field(default_factory=archives.Limits)
    canvas_assignment: str = lms.DEFAULT_ASSIGNMENT
    canvas_assignment_id: str | None = None
    roster: Path | None = None
    # The batch's own registry (host:port) every child pushes 8.push-pull's image to (--registry):
    # set by run(), never part of the options hash (it changes with every batch run).
    registry: str | None = None


@dataclass
class BatchResult:
    """How a batch run went: counts per gradebook status of what it graded now, and the files written."""

    graded_now: dict[str, int] = field(default_factory=dict)   # status -> count
    skipped: int = 0
    not_graded: list[str] = field(default_factory=list)   # students of OUT whose row is not "graded"
    interrupted: bool = False
    files: list[Path] = field(default_factory=list)



class BatchError(Exception):
    """The batch cannot run at all (bad SUBMISSIONS, OUT in use, no engine); message says what to do."""


@dataclass
class Job:
    """One submission being graded: its entry, run id, scratch folder and child process."""

    entry: archives.Entry
    run_id: str
    workdir: Path
    because: str
    previous: Record | None
    content_hash: str
    started_at: str = ""
    started: float = 0.0
    proc: subprocess.Popen | None = None
    log_file: object = None
    terminated: float | None = None
    killed: bool = False
    timed_out: bool = False


def now_utc() -> str:
    """The current time, RFC 3339 in UTC, to the second."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def options_hash(*, task_ids, instructor: bool, grade_args=()) -> tuple[str, dict]:
    """(sha256 hex, the dict hashed) of everything a grade depends on besides the submission:
    the grader version, the rubric file, the task selection, instructor mode and the child options."""

    data = {"grader_version": __version__,
            "rubric_sha256": hashlib.sha256(RUBRIC_PATH.read_bytes()).hexdigest(),
            "tasks": sorted(task_ids, key=lambda t: (len(t), t)), "instructor": bool(instructor),
            "grade_args": list(grade_args)}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest(), data


def selected_checks(*, task_ids, instructor: bool) -> list[str]:
    """Check ids the selection grades (KeyError for an unknown task id)."""

    return [c.id for c in load().select(task_ids=task_ids or None, instructor=instructor)]


# -- the output directory -------------------------------------------------------------------------
def lock(out: Path):
    """An exclusive lock on OUT (released when the process dies, even by kill -9). BatchError if held."""
    out.mkdir(parents=True, exist_ok=True)
    handle = open(out / ".lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise BatchError(f"another batch is writing to {out}; wait for it or choose another --out") from None
    return handle


def _alive(pid: int, run_id: str) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return run_id.encode() in cmdline


def recover(out: Path, *, cli, grace_s: float, display: Display | None = None) -> list[str]:
    """Clean up after a batch that was killed: every OUT/.work/<run id> folder is a run that did not finish.

    Waits up to `grace_s` seconds for an orphaned child still tearing down (it got SIGTERM when the
    batch died), then kills its process group; sweeps the run id's Docker resources when `cli` (a
    Docker client) is given; deletes the folder. Returns the run ids it cleaned up.
    """
    work = out / WORK
    cleaned = []
    for folder in sorted(work.iterdir()) if work.is_dir() else ():
        run_id = folder.name
        try:
            job = json.loads((folder / "job.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            job = {}
        pid = job.get("pid")
        if pid and _alive(pid, run_id):
            if display:
                display.note(f"waiting for the grading of {job.get('student')} left by a killed batch (pid {pid})")
            deadline = time.monotonic() + grace_s
            while _alive(pid, run_id) and time.monotonic() < deadline:
                time.sleep(POLL_S)
            if _alive(pid, run_id):
                _kill_group(pid)
        if cli is not None:

            for problem in engine.sweep(cli, run_id=run_id):
                log.warning("cleanup of run %s: %s", run_id, problem)
            remove_cut_builds(cli, folder, run_id)
        shutil.rmtree(folder, ignore_errors=True)
        cleaned.append(run_id)
        if display:
            display.note(f"cleaned up unfinished run {run_id} ({job.get('student', 'unknown student')})")
    return cleaned


def remove_cut_builds(cli, workdir: Path, run_id: str) -> None:
    """Images a killed child's builds made (unlabelled: written down in its scratch copy), as
    `python -m grader cleanup --run` removes them (grader.docker.build.remove_unkept)."""
    made = [i for scratch in workdir.glob(f"mlops-grader-{run_id}-*") for i in build.created_images(scratch)]
    if made:
        build.remove_unkept(cli, made)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# -- planning -------------------------------------------------------------------------------------
def plan(entries, *, out: Path, options_digest: str, force: bool):
    """Split entries into (jobs to grade, records to write now, skipped records).

    An entry is skipped when its committed record has the same content hash and options hash (and
    `force` is off). Entries with a problem (unsupported, duplicate) become records at once.
    """
    jobs, immediate, skipped = [], [], []
    for entry in entries:
        previous = records.load(out, entry.student)
        if entry.problem is not None:
            status, reason = entry.problem
            immediate.append(Record(student=entry.student, status=status, reason=reason, source=str(entry.path),
                                    options_hash=options_digest, finished_at=now_utc(),
                                    previous=_summary(previous), because="new" if previous is None else "content changed"))
            continue
        try:
            digest = archives.content_hash(entry)
        except OSError as exc:
            immediate.append(Record(student=entry.student, status=archives.UNSUPPORTED, source=str(entry.path),
                                    reason=f"cannot read it: {exc}", finished_at=now_utc()))
            continue
        if previous is None:
            because = "new"
        elif force:
            because = "forced"
        elif previous.content_hash != digest:
            because = "content changed"
        elif previous.options_hash != options_digest:
            because = "options changed"
        else:
            skipped.append(previous)
            continue
        run_id = uuid.uuid4().hex[:12]
        jobs.append(Job(entry=entry, run_id=run_id, workdir=out / WORK / run_id, because=because,
                        previous=previous, content_hash=digest))
    return jobs, immediate, skipped


def _summary(previous: Record | None) -> dict | None:
    if previous is None:
        return None
    return {"score": previous.score, "status": previous.status, "run_id": previous.run_id,
            "finished_at": previous.finished_at, "checks": previous.checks}


# -- one child ------------------------------------------------------------------------------------
def child_command(job: Job, root: Path, options: BatchOptions) -> list[str]:
    """argv of the grading child for the submission at `root` (grader.batch.child, i.e. the CLI)."""
    cmd = [sys.executable, "-m", "grader.batch.child", str(root), "--format", "json",
           "--output", str(job.workdir / "report.json"), "--run-id", job.run_id, "--workroot", str(job.workdir)]
    for task_id in options.task_ids:
        cmd += ["--task", task_id]
    if options.instructor:
        cmd.append("--instructor")
    if options.registry:
        cmd += ["--registry", options.registry]
    return cmd + list(options.grade_args)


def start(job: Job, options: BatchOptions) -> Record | None:
    """Unpack if needed and start the child; a Record when the entry cannot be graded at all."""
    job.workdir.mkdir(parents=True)
    job.started_at, job.started = now_utc(), time.monotonic()
    records.write_json(job.workdir / "job.json", {"student": job.entry.student, "run_id": job.run_id, "pid": None,
                                                 "started_at": job.started_at})
    root = job.entry.path
    try:
        if job.entry.kind in ("zip", "tar"):
            root = archives.unpack(job.entry, job.workdir / "unpacked", limits=options.archive_limits)
    except archives.ArchiveError as exc:
        return _early_record(job, archives.BROKEN_ARCHIVE, str(exc))
    try:
        root = archives.submission_root(root)
    except archives.ArchiveError as exc:
        return _early_record(job, archives.NOT_A_SUBMISSION, str(exc))
    env = {**os.environ, "MLOPS_GRADER_BATCH_PID": str(os.getpid()), "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")]))}
    job.log_file = open(job.workdir / "grader.log", "wb")
    # A session of its own: Ctrl-C in the batch's terminal reaches the batch only, which stops the
    # children in order; SIGKILL can then take the child's whole process group.
    job.proc = subprocess.Popen(child_command(job, root, options), stdin=subprocess.DEVNULL, stdout=job.log_file,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)
    records.write_json(job.workdir / "job.json", {"student": job.entry.student, "run_id": job.run_id,
                                                 "pid": job.proc.pid, "started_at": job.started_at})
    return None


def _early_record(job: Job, status: str, reason: str) -> Record:
    return Record(student=job.entry.student, status=status, reason=reason, source=str(job.entry.path),
                  content_hash=job.content_hash, run_id=job.run_id, started_at=job.started_at, finished_at=now_utc(),
                  duration_s=round(time.monotonic() - job.started, 1))


def last_line(path: Path) -> str:
    """The last non-empty line of a log file (what a worker is doing), or ""."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - LOG_TAIL_BYTES))
            tail = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def police(job: Job, options: BatchOptions) -> None:
    """Enforce the wall-clock limit: SIGTERM after `timeout_s`, SIGKILL of the group `grace_s` later."""
    elapsed = time.monotonic() - job.started
    if job.terminated is None and elapsed > options.timeout_s:
        job.timed_out = True
        stop(job)
    elif job.terminated is not None and not job.killed and time.monotonic() - job.terminated > options.grace_s:
        _kill_group(job.proc.pid)
        job.killed = True


def stop(job: Job) -> None:
    """Ask the child to stop (SIGTERM: the grader tears down and exits 130)."""
    if job.proc is not None and job.terminated is None:
        job.terminated = time.monotonic()
        try:
            job.proc.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass


def finish(job: Job, returncode: int, *, options: BatchOptions, options_digest: str, cli) -> tuple[Record, dict]:
    """The record and the files of a child that exited, after sweeping its run id."""

    if job.log_file is not None:
        job.log_file.close()
    _kill_group(job.proc.pid)   # anything the child started and left running (normally nothing)
    if cli is not None:

        for problem in engine.sweep(cli, run_id=job.run_id):
            log.warning("cleanup of run %s (%s): %s", job.run_id, job.entry.student, problem)
        remove_cut_builds(cli, job.workdir, job.run_id)
    log_text = (job.workdir / "grader.log").read_text(encoding="utf-8", errors="replace")
    files: dict[str, str] = {"grader.log": log_text}
    report, raw, problem = None, None, ""
    report_file = job.workdir / "report.json"
    if report_file.exists():
        try:
            raw = report_file.read_text(encoding="utf-8")
            data = json.loads(raw)
            json_report.validate(data)
            report = GradeReport.from_dict(data)
        except Exception as exc:  # a broken report is a row with a reason, never a crash of the batch
            problem = f"its report is unreadable ({type(exc).__name__}: {str(exc)[:200]})"
            report = None
    record = Record(student=job.entry.student, status=CRASHED, source=str(job.entry.path),
                    content_hash=job.content_hash, options_hash=options_digest, run_id=job.run_id,
                    exit_code=returncode, started_at=job.started_at, finished_at=now_utc(),
                    duration_s=round(time.monotonic() - job.started, 1), because=job.because,
                    previous=_summary(job.previous))
    tail = last_line(job.workdir / "grader.log")
    if job.timed_out:
        record.status = TIMEOUT
        record.reason = (f"did not finish within {display_seconds(options.timeout_s)} (--timeout); "
                         f"stopped while: {tail or 'starting'}")
    elif report is not None and returncode in (0, 1, 2, 3):
        record.score, record.max_score = report.score, report.max_score
        record.tasks = {t.id: t.score for t in report.tasks}
        record.checks = {c.id: c.score for c in report.checks}
        files["report.json"] = raw
        files["feedback.md"] = reporters.render(report, "markdown")
        files["junit.xml"] = reporters.render(report, "junit")
        errors = [c.id for c in report.checks if c.status == ERROR]
        grading_errors = list(report.blocking_errors)  # not the `cleanup:` and `warning:` notes
        if errors:
            record.status, record.reason = GRADER_ERROR, "grader error in " + ", ".join(errors)
        elif grading_errors:
            record.status, record.reason = COULD_NOT_GRADE, "; ".join(grading_errors)[:500]
            record.score = record.max_score = None
            record.tasks, record.checks = {}, {}
        else:
            record.status = GRADED
            record.reason = "; ".join(report.errors)[:500]
    elif returncode == 2:
        record.status, record.reason = COULD_NOT_GRADE, tail or "the grader refused the submission (exit 2)"
    else:
        record.reason = (problem or f"the grader exited with code {returncode} without a report") + \
                        (f"; its last line: {tail}" if tail else "")
    record.changes = records.changes(job.previous, record)
    return record, files


def display_seconds(seconds: float) -> str:
    """A limit for a reason text: "0.2 s", "30 min 0 s"."""

    return f"{seconds:g} s" if seconds < 10 else duration(seconds)


# -- the whole batch ------------------------------------------------------------------------------
CORES_PER_STACK_JOB = 2
# Resources (grader.resources) that keep containers running while checks probe them.
LONG_RUNNING = {"mlapp_container", "mlflow_container", "stack", "registry"}


def parallelism_warning(*, jobs: int, check_ids, cpus: int | None = None) -> str | None:
    """A warning when `jobs` parallel grades that start containers exceed the machine's cores.

    Measured (benchmarks/batch.py, 2 cores): with --jobs 2 and every task, MLflow's own HEALTHCHECK
    (a 5 s timeout written in the student's Dockerfile, which no grader option scales) timed out
    under CPU starvation and correct submissions lost 25 points; --jobs 1 graded them right. So
    grades that start containers get CORES_PER_STACK_JOB cores each. None when `jobs` fits.
    """

    cpus = cpus or os.cpu_count() or 1
    needed = resources.closure(r for c in check_ids for r in registry.get(c).requires)
    starts_containers = bool(needed & LONG_RUNNING)
    fits = max(1, cpus // CORES_PER_STACK_JOB)
    if not starts_containers or jobs <= fits:
        return None
    return (f"--jobs {jobs} on {cpus} cores: the selected tasks start containers, and healthchecks written "
            f"with short timeouts fail when starved of CPU, which costs correct submissions points. "
            f"Use --jobs {fits} here (about {CORES_PER_STACK_JOB} cores per job), or grade on more machines (--shard).")


def _engine_client(check_ids):
    """A Docker client when one answers, None otherwise; BatchError when the selection needs one."""

    try:
        return engine.client()
    except engine.EngineUnavailable as exc:
        needs = any(registry.get(c).phase != "static" for c in check_ids)
        if needs:
            raise BatchError(exc.message) from None
        return None


def run(*, options: BatchOptions, display: Display | None = None) -> BatchResult:
    """Grade the class in `options.submissions` into `options.out`; see the module docstring.

    Raises BatchError when the batch cannot start; KeyboardInterrupt (Ctrl-C, SIGTERM) stops the
    running children, waits for their teardown, writes the gradebook of what finished and is
    reported as `result.interrupted`.
    """
    display = display or Display(live=False)
    out = options.out.resolve()
    try:
        check_ids = selected_checks(task_ids=options.task_ids, instructor=options.instructor)
    except KeyError as exc:
        raise BatchError(str(exc.args[0])) from None
    if not check_ids:
        raise BatchError("nothing to grade in the chosen task(s)")
    try:
        entries = archives.discover(options.submissions.resolve())
    except NotADirectoryError as exc:
        raise BatchError(str(exc)) from None
    if options.shard is not None:
        entries = [e for e in entries if e.student in options.shard]
    handle = lock(out)
    try:
        digest, hashed = options_hash(task_ids=options.task_ids, instructor=options.instructor,
                                      grade_args=options.grade_args)
        records.write_json(out / "batch.json", {
            "options_hash": digest, "options": hashed, "checks": check_ids, "submissions": str(options.submissions),
            "shard": str(options.shard) if options.shard else None, "canvas_assignment": options.canvas_assignment,
            "canvas_assignment_id": options.canvas_assignment_id})
        cli = _engine_client(check_ids)
        recover(out, cli=cli, grace_s=options.grace_s, display=display)
        jobs, immediate, skipped = plan(entries, out=out, options_digest=digest, force=options.force)
        result = BatchResult(skipped=len(skipped))
        for record in immediate:
            previous = records.load(out, record.student)
            if previous is None or (previous.status, previous.reason) != (record.status, record.reason):
                record.changes = records.changes(previous, record)
                records.commit(out, record, files={}, previous=previous)
        warning = parallelism_warning(jobs=options.jobs, check_ids=check_ids) if jobs else None
        if warning:
            log.info("%s", warning)   # shown once, by the display (a warning is logged to stderr as well)
            display.note("WARNING: " + warning)
        display.plan(total=len(jobs), skipped=len(skipped), jobs=options.jobs)
        with shared_registry(out, cli=cli, check_ids=check_ids if jobs else ()) as shared:
            _schedule(jobs, options=options, digest=digest, cli=cli, out=out, display=display, result=result,
                      shared=shared)
        result.files = write_outputs(out, selected=check_ids, options=options)
        result.not_graded = [r.student for r in records.load_all(out) if r.status != GRADED]
        return result
    finally:
        handle.close()


@dataclass
class SharedRegistry:
    """The batch's registry: `address` (localhost:PORT) goes to every grade (--registry) until its
    storage passes `keep_bytes` (`full`); later grades then start their own, as without a batch."""

    container: object
    address: str
    keep_bytes: int = REGISTRY_KEEP_BYTES
    full: bool = False

    def check(self) -> None:
        """Measure its storage (`du` in the registry container) and set `full` past `keep_bytes`."""
        used = publish.registry_bytes(self.container)
        if used is None:
            return
        if used > self.keep_bytes and not self.full:
            self.full = True
            log.warning("the batch's registry holds %d MB: later grades start their own", used // 1_000_000)

    def address_for_a_grade(self) -> str | None:
        return None if self.full else self.address


@contextmanager
def shared_registry(out: Path, *, cli, check_ids):
    """One registry for the whole batch (issue 13: the layers submissions share, the base image and
    the starter's dependencies, are compressed and pushed once, not once per submission); yields a
    SharedRegistry, or None when no selected check pushes or it cannot start (each grade then starts
    its own). Labelled with a run id of its own and written down as OUT/.work/<id>, so that a batch
    killed meanwhile has it removed by the next run's `recover`, like a child's."""
    if cli is None or not any("registry" in resources.closure(registry.get(c).resources) for c in check_ids):
        yield None
        return
    run_id = uuid.uuid4().hex[:12]
    folder = out / WORK / run_id
    folder.mkdir(parents=True)
    records.write_json(folder / "job.json", {"student": "the batch's registry", "run_id": run_id, "pid": None,
                                              "started_at": now_utc()})
    labels = {LABEL_GRADER: "1", LABEL_RUN: run_id}
    try:
        try:
            container, _, port = publish.start_registry(cli, name=f"{NAME_PREFIX}-{run_id}-registry",
                                                        labels=labels, timeout=REGISTRY_START_S)
        except ResourceError as exc:
            log.warning("the batch's registry did not start (%s): every grade starts its own", exc.message)
            yield None
        else:
            yield SharedRegistry(container=container, address=f"localhost:{port}")
    finally:
        for problem in engine.sweep(cli, run_id=run_id):
            log.warning("cleanup of the batch's registry: %s", problem)
        shutil.rmtree(folder, ignore_errors=True)


def _schedule(jobs, *, options, digest, cli, out, display, result, shared: SharedRegistry | None = None) -> None:
    queue = list(jobs)
    running: list[Job] = []

    def done(job: Job, record: Record, files: dict) -> None:
        records.commit(out, record, files=files, previous=job.previous)
        shutil.rmtree(job.workdir, ignore_errors=True)
        result.graded_now[record.status] = result.graded_now.get(record.status, 0) + 1
        display.finished(record)
        if shared is not None:
            shared.check()

    try:
        while queue or running:
            while queue and len(running) < options.jobs:
                job = queue.pop(0)
                display.started(job.entry.student)
                early = start(job, options if shared is None else
                              dataclasses.replace(options, registry=shared.address_for_a_grade()))
                if early is not None:
                    early.options_hash, early.because = digest, job.because
                    early.previous = _summary(job.previous)
                    early.changes = records.changes(job.previous, early)
                    done(job, early, {})
                else:
                    running.append(job)
            for job in list(running):
                returncode = job.proc.poll()
                if returncode is None:
                    display.progress(job.entry.student, ELAPSED.sub("", last_line(job.workdir / "grader.log")))
                    police(job, options)
                    continue
                running.remove(job)
                record, files = finish(job, returncode, options=options, options_digest=digest, cli=cli)
                done(job, record, files)
            display.tick()
            time.sleep(POLL_S)
    except KeyboardInterrupt:
        result.interrupted = True
        display.note(f"interrupted: stopping {len(running)} running grader(s) and cleaning up")
        for job in running:
            stop(job)
        deadline = time.monotonic() + options.grace_s
        while any(j.proc.poll() is None for j in running) and time.monotonic() < deadline:
            time.sleep(POLL_S)
        for job in running:   # unfinished: no record, so the next run grades them again
            if job.log_file is not None:
                job.log_file.close()
            _kill_group(job.proc.pid)
            if cli is not None:

                engine.sweep(cli, run_id=job.run_id)
            shutil.rmtree(job.workdir, ignore_errors=True)


def write_outputs(out: Path, *, selected, options: BatchOptions) -> list[Path]:
    """gradebook.csv and canvas.csv from every record under `out`."""
    book = gradebook.write(out, selected=selected)
    canvas, _ = lms.write(out, assignment=options.canvas_assignment, assignment_id=options.canvas_assignment_id,
                          roster_path=options.roster)
    return [book, canvas]

