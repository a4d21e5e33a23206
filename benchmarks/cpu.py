"""Where a grade's CPU time goes: CPU-seconds by program while one grade runs, and how busy the
machine was, second by second (issue 13: on 2 cores a grade is CPU-bound, so its wall time is
about its CPU-seconds over 2 where nothing waits).

Samples every process (psutil) every --interval seconds during `python -m grader --solution ARGS`
and prints the machine's busy CPU-seconds (all processes, the kernel's too), the CPU-seconds of
the processes it saw grouped by program (containers' processes included: they are the host's),
and the machine's utilisation per 5-second slice. A process that starts and ends between two
samples is missed, so the groups add up to less than the machine's total.

    python -m benchmarks.cpu                         # a full instructor grade of the reference
    python -m benchmarks.cpu -- --task 10            # the grader's arguments after --

Not a test: it prints figures; tests assert behaviour. Other work on the machine counts in the
machine's total, not in the groups (only processes that appear during the grade are grouped).
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
SLICE_S = 5.0


def _program(process: psutil.Process) -> str:
    """A short name for the program a process runs: the script or module of a Python process."""
    try:
        argv = process.cmdline()
        name = process.name()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return "?"
    if not argv:
        return name
    if "python" in Path(argv[0]).name:
        rest = [a for a in argv[1:] if not a.startswith("-")] or argv[1:2]
        if "-m" in argv:
            return f"python -m {argv[argv.index('-m') + 1]}"
        if "-c" in argv:
            return "python -c " + argv[argv.index("-c") + 1][:40].replace("\n", " ")
        return f"python {Path(rest[0]).name}" if rest else "python"
    return Path(argv[0]).name or name


def _busy() -> float:
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def profile(grader_args: list[str], *, interval: float) -> dict:
    """Run one grade and sample; {wall, busy, by_program, slices}."""
    before = {p.pid: p for p in psutil.process_iter()}
    first: dict[tuple[int, float], float] = {}
    last: dict[tuple[int, float], tuple[str, float]] = {}
    slices, started, busy0 = [], time.monotonic(), _busy()
    grade = subprocess.Popen([sys.executable, "-m", "grader", "--solution", *grader_args], cwd=REPO,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    mark = (started, busy0)
    while grade.poll() is None:
        for process in psutil.process_iter():
            try:
                key = (process.pid, process.create_time())
                cpu = sum(process.cpu_times()[:2])
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            if key not in first:
                first[key] = cpu if process.pid in before else 0.0
                last[key] = (_program(process), cpu)
            else:
                last[key] = (last[key][0], cpu)
        now = time.monotonic()
        if now - mark[0] >= SLICE_S:
            busy = _busy()
            slices.append((mark[0] - started, now - started, (busy - mark[1]) / (now - mark[0]) / psutil.cpu_count()))
            mark = (now, busy)
        time.sleep(interval)
    by_program: collections.Counter = collections.Counter()
    for key, (program, cpu) in last.items():
        by_program[program] += max(cpu - first[key], 0.0)
    return {"wall": time.monotonic() - started, "busy": _busy() - busy0, "by_program": by_program,
            "slices": slices, "exit": grade.returncode}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--interval", type=float, default=0.3, help="seconds between samples (default: %(default)s)")
    parser.add_argument("--top", type=int, default=15, help="programs listed (default: %(default)s)")
    parser.add_argument("grader_args", nargs="*", help="the grader's arguments (default: --instructor)")
    args = parser.parse_args(argv)
    found = profile(args.grader_args or ["--instructor"], interval=args.interval)
    print(f"grade: {found['wall']:.1f} s wall (exit {found['exit']}); machine busy "
          f"{found['busy']:.1f} CPU-s of {found['wall'] * psutil.cpu_count():.1f} on {psutil.cpu_count()} cores")
    print(f"{'CPU-s':>7}  program")
    for program, seconds in found["by_program"].most_common(args.top):
        print(f"{seconds:7.1f}  {program}")
    print("utilisation per slice:")
    for start, end, share in found["slices"]:
        print(f"  {start:5.0f}-{end:4.0f} s  {share * 100:4.0f} %  {'#' * round(share * 20)}")


if __name__ == "__main__":
    main()
