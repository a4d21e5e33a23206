"""Grader figures: static-phase time, full grades warm and cold, and repeat-run determinism."""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

from grader.options import Options
from grader.run import grade

REPO = Path(__file__).resolve().parents[1]


def timed_grade(**options) -> tuple[float, dict[str, float], object]:
    """Grade; return total seconds, seconds per phase, and the report."""
    marks: list[tuple[str, float]] = []

    def on_event(kind: str, text: str) -> None:
        if kind == "phase":
            marks.append((text, time.monotonic()))

    started = time.monotonic()
    report = grade(options=Options(submission=REPO, **options), on_event=on_event)
    ended = time.monotonic()
    phases, points = {}, [("prepare", started)] + marks + [("end", ended)]
    for (name, at), (_, until) in itertools.pairwise(points):
        phases[name] = phases.get(name, 0.0) + (until - at)
    return ended - started, phases, report


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip the cold grade and repeat only 2 times")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    repeats = 2 if args.quick else args.repeats

    seconds, phases, report = timed_grade(solution=True, instructor=True)  # also warms the cache
    static = phases.get("prepare", 0) + phases.get("static", 0)
    print(f"static phase (copy + static checks): {static:.1f} s")

    seconds, phases, report = timed_grade(solution=True, instructor=True)
    print(f"full grade, reference, warm cache: {seconds:.1f} s -> {report.score}/{report.max_score}")
    print("  phases: " + ", ".join(f"{k} {v:.1f} s" for k, v in phases.items()))

    if not args.quick:
        seconds, phases, report = timed_grade(solution=True, instructor=True, no_cache=True)
        print(f"full grade, reference, cold cache (base image present): {seconds:.1f} s -> "
              f"{report.score}/{report.max_score}")

    scores = []
    for _ in range(repeats):
        _, _, report = timed_grade(solution=True, instructor=True)
        scores.append((report.score, tuple((c.id, c.status, c.score) for c in report.checks)))
    same = len(set(scores)) == 1
    print(f"{repeats} repeated grades of the reference: scores {[s for s, _ in scores]}, "
          f"per-check results identical: {same}")


if __name__ == "__main__":
    main()
