"""Run every benchmark and print its figures.

    make bench              # every figure, this version beside the kit before issue 13
    make bench QUICK=1      # leaves out the slow ones
    make bench REPEATS=10   # ten warm grades of the reference compared (issue 13's identical-results rule)
"""

from __future__ import annotations

import argparse

from benchmarks import batch, ci, container_tests, release, speed


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="leave out the slow figures")
    parser.add_argument("--repeats", type=int, metavar="N",
                        help="warm grades of this version compared for identical results (the earlier one: 2)")
    args = parser.parse_args(argv)
    speed_args = ["--skip-cold", "--repeats", "2"] if args.quick else []
    if args.repeats is not None:
        speed_args += ["--repeats", str(args.repeats), "--repeats-before", "2"]
    print("== speed (issue 13): this version beside the one before ==")
    speed.main(speed_args)
    print("\n== a class in one command (issue 12) ==")
    batch.main(["--students", "4", "--jobs", "1"] if args.quick else [])
    print("\n== the student edition (issue 11) ==")
    release.main(["--runs", "1"] if args.quick else [])
    print("\n== task 10: the container tests, wheats and chaffs (issue 15) ==")
    container_tests.main(["--quick"] if args.quick else [])
    print("\n== CI: the .ci/run record of this checkout (issue 13; python -m benchmarks.ci --record FILE for a clone's) ==")
    ci.main([])


if __name__ == "__main__":
    main()
