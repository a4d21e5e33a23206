"""Run every benchmark and print its figures (`make bench`)."""

from __future__ import annotations

import sys

from benchmarks import grading, stack


def main() -> None:
    quick = "--quick" in sys.argv
    print("== reference images and stack ==")
    stack.main(["--skip-cold"] if quick else [])
    print("\n== grader ==")
    grading.main(["--quick"] if quick else [])


if __name__ == "__main__":
    main()
