"""CI's figure (issue 13: a clean clone's `CI=true bash .ci/run` within 20 minutes on a fresh machine).

A full CI run takes some 18 minutes, so this script does not start one: it prints the times the last
`.ci/run` recorded (test-results/ci-times.txt, written by .ci/run), beside the figure of the kit
before issue 13 and the target. Make the record with

    rm -rf /tmp/ci-clone && git clone -q . /tmp/ci-clone && (cd /tmp/ci-clone && CI=true bash .ci/run)
    python -m benchmarks.ci --record /tmp/ci-clone/test-results/ci-times.txt

Run it from the repository's root (`python -m benchmarks.ci`), as every benchmark. Not a test: it
prints figures; tests assert behaviour.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECORD = REPO / "test-results" / "ci-times.txt"
BEFORE_S = 2262        # issue 13's text: CI on a fresh machine took 37.7 min before the issue
TARGET_S = 20 * 60


def read_record(path: Path) -> dict[str, str]:
    """The `key=value` lines of a ci-times.txt; an empty dict when it cannot be read (missing, a folder)."""
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError:
        return {}
    pairs = (line.partition("=") for line in text.splitlines())
    return {key.strip(): value.strip() for key, sep, value in pairs if sep}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--record", type=Path, default=RECORD, help="a ci-times.txt (default: %(default)s)")
    args = parser.parse_args(argv)
    record = read_record(args.record)
    print(f"{'figure':<34} {'before':>8} {'now':>8} {'ratio':>7} {'target':>8}")
    total = record.get("total_s")
    if total is None or not re.fullmatch(r"[0-9]{1,9}", total) or int(total) == 0:
        print(f"{'CI .ci/run, clean clone (s)':<34} {BEFORE_S:>8} {'?':>8} {'':>7} {'<= ' + str(TARGET_S):>8}")
        if not args.record.is_file():
            why = "no record"
        elif total is None:
            why = "no total_s=<seconds> line in the record"
        else:
            why = f"total_s={total[:20]!r} is not a whole number of seconds in the record"
        print(f"  {why} at {args.record}: run .ci/run in a clean clone, then pass "
              "--record <clone>/test-results/ci-times.txt (see --help)")
        return
    total = int(total)
    passed = record.get("status") == "0"
    ratio = f"{BEFORE_S / total:>6.1f}x" if passed else f"{'-':>7}"   # a failed run's time is no figure
    print(f"{'CI .ci/run, clean clone (s)':<34} {BEFORE_S:>8} {total:>8} {ratio} {'<= ' + str(TARGET_S):>8}")
    if passed:
        verdict = "passed"
    elif "status" not in record:
        verdict = "status unknown"
    else:
        verdict = f"FAILED (exit {record['status']})"
    print(f"  make setup {record.get('setup_s', '?')} s + make test {record.get('test_s', '?')} s; "
          f"commit {record.get('commit', '?')}, finished {record.get('finished', '?')}, {verdict}; "
          "before: a fresh machine, now: this one")


if __name__ == "__main__":
    main()
