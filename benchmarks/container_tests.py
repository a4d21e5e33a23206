"""Task 10 figures: what grading the container tests costs, alone and as part of a full grade.

Prints the time of `--task 10` on the reference (warm layer cache), on a new submission (the
reference with one more line in Dockerfile.mlapp, so every planted fault's image is built afresh:
what grading a new student costs), each sandboxed run's time, and the difference between a full
grade with and without task 10. Figures, not assertions (tests assert behaviour).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from grader.options import Options
from grader.rubric import load
from grader.run import grade
from grader.workspace import prepare

REPO = Path(__file__).resolve().parents[1]


def timed(submission: Path, *, tasks: tuple[str, ...] = (), solution: bool = False) -> tuple[float, object, list]:
    """Grade in instructor mode; (seconds, report, the container-test events with their times)."""
    events: list[tuple[float, str]] = []
    started = time.monotonic()

    def on_event(kind: str, text: str) -> None:
        if kind in ("tests", "build") or text.startswith("container_tests"):
            events.append((time.monotonic() - started, f"{kind}: {text}"))

    report = grade(options=Options(submission=submission, solution=solution, instructor=True, task_ids=tasks),
                   on_event=on_event)
    for check in report.checks:
        if check.status != "passed" and tasks == ("10",):
            print(f"  not passed: {check.id}: {check.message[:200]}")
    return time.monotonic() - started, report, events


def new_submission(dest: Path) -> Path:
    """The reference with a line of its own at the end of Dockerfile.mlapp: a new image id, so no
    planted fault's image is in the layer cache yet."""
    prepare(submission=REPO, dest=dest, solution=True)
    dockerfile = dest / "Dockerfile.mlapp"
    dockerfile.write_text(dockerfile.read_text() + f"ENV BENCHMARK_RUN={uuid.uuid4().hex}\n")
    return dest


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip the full grades with and without task 10")
    args = parser.parse_args(argv)

    timed(REPO, tasks=("10",), solution=True)  # warms the cache (and builds the test runner once)
    seconds, report, events = timed(REPO, tasks=("10",), solution=True)
    print(f"--task 10, reference, warm cache: {seconds:.1f} s -> {report.score}/{report.max_score}")
    for at, text in events:
        print(f"  [{at:6.1f} s] {text}")

    scratch = Path(tempfile.mkdtemp(prefix="mlops-bench-"))
    try:
        seconds, report, events = timed(new_submission(scratch / "submission"), tasks=("10",))
        print(f"--task 10, a new submission (no planted fault cached): {seconds:.1f} s -> "
              f"{report.score}/{report.max_score}")
        for at, text in events:
            if text.startswith("build") and "built in" in text:
                print(f"  [{at:6.1f} s] {text}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    if not args.quick:
        others = tuple(t.id for t in load().tasks if t.scored and t.id != "10")
        without, report_without, _ = timed(REPO, tasks=others, solution=True)
        with_10, report_with, _ = timed(REPO, solution=True)
        print(f"full grade without task 10: {without:.1f} s ({report_without.score}/{report_without.max_score}); "
              f"with it: {with_10:.1f} s ({report_with.score}/{report_with.max_score}); "
              f"task 10 adds {with_10 - without:.1f} s")
        for report in (report_without, report_with):
            for check in report.checks:
                if check.status != "passed":
                    print(f"  not passed in the grade {'with' if report is report_with else 'without'} task 10: "
                          f"{check.id}: {check.message[:200]}")


if __name__ == "__main__":
    main()
