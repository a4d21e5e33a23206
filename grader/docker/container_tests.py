"""The student's container tests against correct images ("wheats") and planted faults ("chaffs").

Task 10 grades tests/container/test_*.py the way Brown's Examplar grades student test suites: the
tests must pass on correct implementations and fail on known-faulty ones. Here the wheats are the
student's own API image and, in instructor mode, the reference image; the chaffs are the student's
image with one real fault planted each (grader.docker.planting, data in grader/chaffs.yaml). Every
run is one sandboxed pytest run (grader.docker.sandbox); the runs go CONCURRENCY at a time.

Resources (grader.resources): `container_test_files` (the copied tests, no engine) and
`container_tests` (a ContainerTests: every run's outcome). The verdicts are the checks' business
(grader/tasks/t10_container_tests.py).
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from grader import rubric
from grader.chaffs import Chaff
from grader.docker import planting, sandbox
from grader.docker.build import BuiltImage, build_image, retag
from grader.docker.planting import NotPlanted, Proof
from grader.docker.sandbox import SkipTests, SuiteRun
from grader.errors import ResourceError
from grader.resources import provides

log = logging.getLogger(__name__)

TASK_ID = "10"
CONCURRENCY = 3        # sandboxed runs at once (each: the API container and a test runner)
BUILDS = 2             # planted faults' images built at once, beside the runs
# While the late phase's first checks recreate and wait for MLflow (until ctx.unthrottled is set,
# grader.run.LATE_PREFETCH), fewer runs and builds at once: they fill the machine's idle time
# without starving MLflow's restart. Full instructor grades of the reference on 2 cores (issue 13):
# 1 early run 69-75 s (MLflow recreated in 12-13 s), 2 early runs 64-65 s (16-17 s), all 3 at once
# 66 s (23 s); task 10 after the late checks, as before, 84-86 s (9 s).
EARLY_CONCURRENCY = 2
EARLY_BUILDS = 1
# Before the late phase (grader.run.EARLY_AFTER: once the standalone containers answer and the
# image is pushed), beside the inspect checks and the stack coming up: one run, one build, so that
# MLflow's checks are not starved (7.logged-visible once failed under load with three runs there).
PRE_LATE_CONCURRENCY = 1
PRE_LATE_BUILDS = 1
UNBOUNDED = 1_000_000  # once stopped, every job waiting for a place takes one at once and ends
KIT_REFERENCE = Path(__file__).resolve().parents[2] / "solutions" / "Dockerfile.mlapp"


@dataclass(frozen=True)
class TestFiles:
    """The submission's container tests, copied (regular files only) to `root`/tests/container."""

    root: Path
    files: tuple[str, ...]


@dataclass(frozen=True)
class WheatRun:
    """The tests on one correct image: `label` says which ("your API image", "the reference image");
    `proofs` are every chaff's confirm probe on it (a fault the correct image already has)."""

    label: str
    run: SuiteRun
    proofs: dict[str, Proof] = field(default_factory=dict)


@dataclass(frozen=True)
class ChaffRun:
    """The tests on one planted fault. `planted` is False when the fault could not be made or did not
    show (`reason` says why); `proof` is the grader's evidence that the fault is there."""

    chaff: Chaff
    planted: bool
    run: SuiteRun | None = None
    proof: Proof | None = None
    reason: str = ""
    unproven: bool = False   # made, but the grader's proof of it gave no answer (a probe that timed out)


@dataclass(frozen=True)
class ContainerTests:
    """Everything task 10 scores: the tests, the wheat runs and the chaff runs (by chaff id)."""

    files: tuple[str, ...]
    wheats: tuple[WheatRun, ...]
    chaffs: dict[str, ChaffRun]
    seconds: float
    notes: tuple[str, ...] = ()


class Slots:
    """At most `width()` holders at once (`with slots:` waits for a place). The width is read again
    while waiting, every `poll` seconds, so it may grow while the run goes on."""

    def __init__(self, width: Callable[[], int], *, poll: float = 0.5):
        self._width, self._poll = width, poll
        self._held = 0
        self._changed = threading.Condition()

    def __enter__(self) -> Slots:
        with self._changed:
            while self._held >= max(self._width(), 1):
                self._changed.wait(timeout=self._poll)
            self._held += 1
        return self

    def __exit__(self, *exc) -> None:
        with self._changed:
            self._held -= 1
            self._changed.notify_all()


def _linked(stop: threading.Event, *events: threading.Event) -> None:
    """Set `stop` as soon as any of `events` is set (a daemon thread that ends with `stop`)."""
    def watch() -> None:
        while not stop.is_set():
            if any(e.wait(timeout=0.5) for e in events):
                stop.set()
    threading.Thread(target=watch, name="container-tests-stop", daemon=True).start()


@provides("container_test_files", blame="10.passes-correct", engine=False)
def container_test_files(ctx) -> TestFiles:
    """The submission's tests/container/, copied into the run's scratch folder for the runner."""
    root = ctx.scratch / "container-tests"
    return TestFiles(root=root, files=sandbox.collect_tests(ctx.workdir, root))


def sample_request(workdir: Path):
    """The submission's starter/sample_request.json (what the confirm probe POSTs to /predict), or None."""
    try:
        return json.loads((workdir / sandbox.SAMPLE_REQUEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def chaffs_to_plant(*, instructor: bool) -> tuple[Chaff, ...]:
    """Task 10's chaffs in rubric order: hidden ones only in instructor mode."""
    return tuple(c for c in rubric.load().task(TASK_ID).chaffs if instructor or c.visibility == "visible")


def reference_dockerfile(options) -> Path | None:
    """Instructor mode's second correct image: --reference-dockerfile, else the kit's own
    solutions/Dockerfile.mlapp beside the grader. Never the submission's solutions/ (it is the
    student's to change). None in student mode or when there is none."""
    if not options.instructor:
        return None
    path = options.reference_dockerfile or KIT_REFERENCE
    return path if path.is_file() else None


@provides("container_tests", blame="10.passes-correct",
          depends=("container_test_files", "mlapp_image", "mlapp_port"))
def container_tests(ctx) -> ContainerTests:
    """Run the tests on every wheat and chaff, CONCURRENCY at a time (PRE_LATE_CONCURRENCY until
    `ctx.late` is set, then EARLY_CONCURRENCY until `ctx.unthrottled` is); stops when the run closes;
    always removes what it made."""
    started = time.monotonic()
    files: TestFiles = ctx.get("container_test_files")
    image: BuiltImage = ctx.get("mlapp_image")
    port = ctx.get("mlapp_port")
    runner = sandbox.runner_image(ctx)
    facts = planting.image_facts(ctx, image, port=port)
    sample = sample_request(ctx.workdir)
    chaffs = chaffs_to_plant(instructor=ctx.options.instructor)
    notes: list[str] = []
    wheats = [("your API image", retag(ctx, image, _neutral_tag(ctx)))]
    reference = reference_dockerfile(ctx.options)
    if reference is not None:
        try:
            ref = build_image(ctx, context=ctx.workdir, dockerfile=str(reference.resolve()), tag=_neutral_tag(ctx),
                              what=f"the reference image ({reference.name})", cache=True)
        except ResourceError as exc:  # the instructor's file: say so, grade on the student's image alone
            notes.append(f"the reference image did not build, so it was not used: {exc.message}")
        else:
            if ref.id != image.id:
                wheats.append(("the reference image", ref))
    stop = threading.Event()
    _linked(stop, ctx.closing)
    if ctx.closing.is_set():  # closing began while the images were being made: start nothing
        stop.set()
    def width(full: int, early: int, pre_late: int) -> Callable[[], int]:
        def now() -> int:
            if stop.is_set():
                return UNBOUNDED
            if ctx.unthrottled.is_set():
                return full
            return early if ctx.late.is_set() else pre_late
        return now
    runs = Slots(width(CONCURRENCY, EARLY_CONCURRENCY, PRE_LATE_CONCURRENCY))
    building = Slots(width(BUILDS, EARLY_BUILDS, PRE_LATE_BUILDS))

    def wheat_job(label: str, wheat: BuiltImage, probe: bool) -> WheatRun:
        def proofs(service):
            return {c.id: planting.confirm(c, service, facts=facts, sample=sample) for c in chaffs
                    if not stop.is_set()} if probe else {}
        with runs:
            if stop.is_set():
                return WheatRun(label=label, run=sandbox.SuiteRun(image=wheat.tag, error="stopped"))
            run = sandbox.run_suite(ctx, image=wheat.tag, tests=files.root, port=port, runner=runner,
                                    must_answer=True, before=proofs, stop=stop)
        ctx.event("tests", f"container tests on {label}: {_summary(run)}")
        return WheatRun(label=label, run=run, proofs=run.evidence or {})

    def build_job(chaff: Chaff) -> BuiltImage:
        with building:
            if stop.is_set():
                raise NotPlanted("stopped")
            return planting.plant(ctx, chaff, image=image, facts=facts, tag=_neutral_tag(ctx))

    def chaff_job(chaff: Chaff) -> ChaffRun:
        try:
            planted = builds[chaff.id].result()  # NotPlanted when the image could not be made
        except NotPlanted as exc:
            return ChaffRun(chaff=chaff, planted=False, reason=exc.reason)
        except CancelledError:  # the whole run is stopping
            return ChaffRun(chaff=chaff, planted=False, reason="stopped", unproven=True)
        if stop.is_set():
            return ChaffRun(chaff=chaff, planted=False, reason="stopped", unproven=True)

        def prove(service):
            proof = planting.confirm(chaff, service, facts=facts, sample=sample)
            if not proof.holds:
                raise SkipTests(f"the planted fault did not show ({proof.evidence})", evidence=proof)
            return proof
        with runs:
            if stop.is_set():
                return ChaffRun(chaff=chaff, planted=False, reason="stopped", unproven=True)
            run = sandbox.run_suite(ctx, image=planted.tag, tests=files.root, port=port, runner=runner,
                                    must_answer=False, before=prove, stop=stop)
        proof = run.evidence if isinstance(run.evidence, Proof) else None
        if proof is None or not proof.holds:
            return ChaffRun(chaff=chaff, planted=False, run=run, proof=proof, reason=run.error or "no proof",
                            unproven=proof is None or proof.inconclusive)
        ctx.event("tests", f"container tests on planted fault {chaff.id}: {_summary(run)}")
        return ChaffRun(chaff=chaff, planted=True, run=run, proof=proof)

    # Images are built in a pool of their own, so that a long build (a transformation that installs
    # gcc: a minute when not cached) never holds a run's place; the runs take the chaffs whose
    # images are quick to make first.
    jobs, slow_first = {}, sorted(chaffs, key=lambda c: c.how != "dockerfile")
    builder = ThreadPoolExecutor(max_workers=BUILDS, thread_name_prefix="container-tests-build")
    pool = ThreadPoolExecutor(max_workers=CONCURRENCY, thread_name_prefix="container-tests")
    try:
        builds = {chaff.id: builder.submit(build_job, chaff) for chaff in slow_first}
        for index, (label, wheat) in enumerate(wheats):
            jobs[pool.submit(wheat_job, label, wheat, index == 0)] = ("wheat", index)
        for chaff in sorted(chaffs, key=lambda c: c.how == "dockerfile"):
            jobs[pool.submit(chaff_job, chaff)] = ("chaff", chaff.id)
        done_wheats: dict[int, WheatRun] = {}
        done_chaffs: dict[str, ChaffRun] = {}
        for future in as_completed(jobs):
            kind, key = jobs[future]
            if kind == "wheat":
                done_wheats[key] = future.result()  # a correct image that does not answer ends it all
            else:
                done_chaffs[key] = future.result()
    except BaseException:
        stop.set()  # every run still going stops at its next step and removes what it made
        raise
    finally:
        builder.shutdown(wait=False, cancel_futures=True)  # builds not begun never begin (runs see CancelledError)
        pool.shutdown(wait=True, cancel_futures=True)
        builder.shutdown(wait=True)
        stop.set()  # ends the watcher thread of _linked
    # `stop` is set only by closing (here) or by an exception (raised above): no "stopped" run ever
    # reaches a check, where it would read as the student's failure or an unplanted fault.
    if ctx.closing.is_set():
        raise ResourceError("the grading run ended before the container tests finished")
    return ContainerTests(files=files.files, wheats=tuple(done_wheats[i] for i in sorted(done_wheats)),
                          chaffs={c.id: done_chaffs[c.id] for c in chaffs}, notes=tuple(notes),
                          seconds=round(time.monotonic() - started, 1))


def _neutral_tag(ctx) -> str:
    """A tag that does not say which image is correct and which carries which fault (tests can see it)."""
    return ctx.name("cut-" + secrets.token_hex(4))


def _summary(run: SuiteRun) -> str:
    if run.error:
        return run.error
    return f"{len(run.passed)} passed, {len(run.not_passed)} did not, in {run.seconds:.0f} s"
