"""Run every benchmark and print its figures (`make bench`; `make bench QUICK=1` leaves out the slow ones;
`make bench REPEATS=10` compares ten warm grades of the reference, issue 13's identical-results rule)."""

from __future__ import annotations

import sys

from benchmarks import batch, container_tests, release, speed


def main() -> None:
    quick = "--quick" in sys.argv
    repeats = [a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--repeats=")]
    print("== speed (issue 13): this version beside the one before ==")
    speed.main(["--skip-cold", "--repeats", "2"] if quick else ["--repeats", repeats[-1], "--repeats-before", "2"] if repeats else [])
    print("\n== a class in one command (issue 12) ==")
    batch.main(["--students", "4", "--jobs", "1"] if quick else [])
    print("\n== the student edition (issue 11) ==")
    release.main(["--runs", "1"] if quick else [])
    print("\n== task 10: the container tests, wheats and chaffs (issue 15) ==")
    container_tests.main(["--quick"] if quick else [])


if __name__ == "__main__":
    main()
