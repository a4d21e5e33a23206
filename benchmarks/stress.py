"""Stress: the reference and three broken submissions graded N times each (issue 14).

Prints whether every per-check result (id, status, score) was identical across the repeats of each
submission, and the engine's disk before and after: image layers (`docker system df`), BuildKit's
build cache, and the grader's own build cache (grader.docker.build.cache_usage) against its cap
(--keep-storage). The growth of the grader's disk must stay under that cap. Not part of the tests.

    python -m benchmarks.stress                         # 4 x 10 full instructor grades (hours)
    python -m benchmarks.stress --repeats 3 --task 2 --task 3 --task 9    # a reduced run
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from grader.docker import engine
from grader.docker.build import cache_usage
from grader.options import DEFAULT_KEEP_STORAGE, Limits, Options, parse_size
from grader.run import grade
from grader.workspace import prepare
from tests.grader.overlays import Overlay

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "tests" / "grader" / "corpus"
# Broken submissions whose images differ from the reference's (each builds layers of its own).
BROKEN = ("root-user", "code-before-requirements", "single-stage-with-gcc")


def disk(cli) -> dict[str, int]:
    """Bytes on the engine: image layers, BuildKit's build cache, the grader's build cache."""
    df = cli.df()
    return {"images": int(df.get("LayersSize") or 0),
            "build cache (BuildKit)": sum(int(c.get("Size") or 0) for c in df.get("BuildCache") or []),
            "grader cache": cache_usage(cli).bytes}


def submissions(root: Path, broken: tuple[str, ...]) -> dict[str, Path]:
    """The reference and each broken overlay laid over it, as directories to grade."""
    reference = prepare(submission=REPO, dest=root / "reference", solution=True)
    found = {"reference": reference}
    for name in broken:
        dest = root / name
        shutil.copytree(reference, dest, symlinks=True)
        Overlay.load(CORPUS / f"{name}.yaml").apply(dest)
        found[name] = dest
    return found


def varying(seen: set) -> dict[str, list]:
    """Checks whose (status, score) differed between repeats: check id -> the outcomes seen."""
    outcomes: dict[str, set] = {}
    for result in seen:
        for check_id, status, score in result:
            outcomes.setdefault(check_id, set()).add((status, score))
    return {k: sorted(v) for k, v in outcomes.items() if len(v) > 1}


def gb(size: int) -> str:
    return f"{size / 1e9:.2f} GB"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--task", dest="tasks", action="append", default=[], help="grade only these tasks")
    parser.add_argument("--broken", nargs="*", default=list(BROKEN), help="corpus overlays to grade")
    parser.add_argument("--keep-storage", default=DEFAULT_KEEP_STORAGE)
    args = parser.parse_args(argv)
    cli = engine.client()
    root = Path(tempfile.mkdtemp(prefix="mlops-grader-stress-"))
    try:
        subs = submissions(root, tuple(args.broken))
        before = disk(cli)
        started = time.monotonic()
        results: dict[str, set] = {name: set() for name in subs}
        scores: dict[str, list] = {name: [] for name in subs}
        count = 0
        for _ in range(args.repeats):
            for name, path in subs.items():
                report = grade(options=Options(submission=path, instructor=True, task_ids=tuple(args.tasks),
                                               limits=Limits.defaults(), keep_storage=args.keep_storage,
                                               workroot=root))
                count += 1
                results[name].add(tuple((c.id, c.status, c.score) for c in report.checks))
                scores[name].append(report.score)
                print(f"[{time.monotonic() - started:7.0f}s] {name}: {report.score}/{report.max_score}", flush=True)
        after = disk(cli)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"\n{count} grades ({args.repeats} x {len(subs)}; tasks {', '.join(args.tasks) or 'all'}; instructor "
          f"mode, default limits) in {time.monotonic() - started:.0f} s")
    identical = True
    for name, seen in results.items():
        identical &= len(seen) == 1
        print(f"  {name}: scores {sorted(set(scores[name]))}, per-check results identical: {len(seen) == 1}")
        for check_id, outcomes in varying(seen).items():
            print(f"    {check_id} varied: {outcomes}")
    print(f"every per-check result identical: {identical}")
    cap = parse_size(args.keep_storage)
    for key in before:
        print(f"  {key}: {gb(before[key])} -> {gb(after[key])} ({(after[key] - before[key]) / 1e9:+.2f} GB)")
    growth = after["grader cache"] - before["grader cache"]
    print(f"grader cache growth {gb(max(growth, 0))}, cap {args.keep_storage} ({gb(cap)}): "
          f"{'under' if after['grader cache'] <= cap else 'OVER'} the cap")
    return 0 if identical and after["grader cache"] <= cap else 1


if __name__ == "__main__":
    raise SystemExit(main())
