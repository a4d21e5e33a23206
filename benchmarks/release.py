"""Student-edition figures: time of `make release`, the edition's size, the leak search, and
(with --grade) the instructor's grade of the reference laid into the edition."""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grader.options import Options
from grader.release import MANIFEST, find_leaks, fingerprints, load_manifest
from grader.run import grade

REPO = Path(__file__).resolve().parents[1]


def timed_release(dest: Path) -> float:
    """Seconds of one `make release DEST=dest` (the command an instructor runs)."""
    started = time.monotonic()
    subprocess.run(["make", "-s", "release", f"DEST={dest}", f"VENV={Path(sys.executable).parents[1]}"],
                   cwd=REPO, check=True, capture_output=True, text=True, timeout=600)
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="releases to time (default: 3)")
    parser.add_argument("--grade", action="store_true", help="also grade the reference laid into the edition")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mlops-release-bench-") as tmp:
        dest = Path(tmp) / "edition"
        seconds = [timed_release(dest) for _ in range(args.runs)]
        files = [p for p in dest.rglob("*") if p.is_file()]
        print(f"make release:        median {statistics.median(seconds):.1f} s over {args.runs} runs "
              f"(min {min(seconds):.1f} s, max {max(seconds):.1f} s)")
        print(f"edition:             {len(files)} files, {sum(p.stat().st_size for p in files) / 1e6:.2f} MB")
        started = time.monotonic()
        prints = fingerprints(source=REPO, manifest=load_manifest(REPO / MANIFEST))
        made = time.monotonic() - started
        started = time.monotonic()
        leaks = find_leaks(dest, prints)
        print(f"fingerprints:        {len(prints)} taken in {made:.2f} s; search of every file "
              f"{time.monotonic() - started:.2f} s, {len(leaks)} found")
        if args.grade:
            copy = Path(tmp) / "submission"
            shutil.copytree(dest, copy, symlinks=True)
            for path in (REPO / "solutions").rglob("*"):
                if path.is_file():
                    shutil.copy2(path, copy / path.relative_to(REPO / "solutions"))
            started = time.monotonic()
            report = grade(options=Options(submission=copy, instructor=True, workroot=Path(tmp)))
            print(f"reference in edition: {report.score:g}/{report.max_score:g} (instructor mode) "
                  f"in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
